#!/usr/bin/env bash
# Runs every test of the workspace against a real PostgreSQL (scripts/ensure-postgres.sh) and
# PgBouncer in transaction mode (scripts/ensure-pgbouncer.sh), after checking that the
# example's entities and its generated migrations agree.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
source scripts/ensure-pgbouncer.sh
cargo run -q -p saas-example --bin codegen -- generate --check
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
