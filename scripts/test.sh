#!/usr/bin/env bash
# Checks the house style (formatting, lints, docs, each feature of sea-tenant alone), then runs
# every test of the workspace against a real PostgreSQL (scripts/ensure-postgres.sh) and
# PgBouncer in transaction mode (scripts/ensure-pgbouncer.sh), after checking that the
# example's entities and its generated migrations agree.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo build -q -p sea-tenant --no-default-features
cargo build -q -p sea-tenant --no-default-features --features axum
source scripts/ensure-postgres.sh
source scripts/ensure-pgbouncer.sh
cargo run -q -p saas-example --bin codegen -- generate --check
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
