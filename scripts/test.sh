#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL (see scripts/ensure-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
source scripts/ensure-pgbouncer.sh
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
