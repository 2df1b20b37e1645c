#!/usr/bin/env bash
# Runs the example SaaS application's scripted demo against a real PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-postgres.sh
cargo run -p saas-example --bin saas -- demo "$@"
