#!/usr/bin/env bash
# Checks the house style (formatting, lints, docs, each feature of sea-tenant alone, an app that
# also uses sea-orm's SQLite driver), then runs
# every test of the workspace against a real PostgreSQL (scripts/ensure-postgres.sh) and
# PgBouncer in transaction mode (scripts/ensure-pgbouncer.sh), after checking that the
# example's entities and its generated migrations agree.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo build -q -p sea-tenant --no-default-features
for feature in axum codegen cli testing; do
  cargo build -q -p sea-tenant --no-default-features --features "$feature"
done
# An app with sea-orm's sqlx-sqlite and sqlx-postgres next to sea-tenant must build.
CARGO_TARGET_DIR=target/sqlite-app cargo check -q --manifest-path .ci/sqlite-app/Cargo.toml
source scripts/ensure-postgres.sh
source scripts/ensure-pgbouncer.sh
cargo run -q -p saas-example --bin codegen -- generate --check
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
