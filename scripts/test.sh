#!/usr/bin/env bash
# Checks the house style (formatting, lints, docs, each feature of sea-tenant alone, an app that
# also uses sea-orm's SQLite driver, the crates.io packages), then runs
# every test of the workspace against a real PostgreSQL (scripts/ensure-postgres.sh) and
# PgBouncer in transaction mode (scripts/ensure-pgbouncer.sh), after checking that the
# example's entities and its generated migrations agree.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
# Each feature alone type-checks (`check` reuses what clippy and doc compiled).
cargo check -q -p sea-tenant --no-default-features
for feature in axum codegen cli testing; do
  cargo check -q -p sea-tenant --no-default-features --features "$feature"
done
# sea-tenant/src keeps its layers (ARCHITECTURE.md): no import points up, no new module cycle,
# no new file over 500 lines.
python3 scripts/check-layers.py
# An app with sea-orm's sqlx-sqlite and sqlx-postgres next to sea-tenant must build.
# Same target directory: the dependencies it shares with the workspace are not compiled again.
cargo check -q --manifest-path .ci/sqlite-app/Cargo.toml --target-dir target
# The published crates ship their sources, manifest, README and licence texts only: no tests,
# benches, examples, scripts, trybuild cases or build output. --allow-dirty: CI may run on
# uncommitted files.
package_list_is_clean() {
  local list
  list=$(cargo package -q -p "$1" --allow-dirty --list)
  if grep -E '^(tests|benches|examples|scripts|target|\.ci)/|(^|/)ui/' <<<"$list"; then
    echo "cargo package -p $1 would ship the files above" >&2
    return 1
  fi
}
package_list_is_clean sea-tenant-macros
package_list_is_clean sea-tenant
# Both in one command, so that each is built from its package: sea-tenant's verification finds
# sea-tenant-macros 0.1.0 in the temporary registry cargo makes of the first package (it is not
# on crates.io yet; `cargo package -p sea-tenant` alone fails to resolve it, even --no-verify).
cargo package -q -p sea-tenant-macros -p sea-tenant --allow-dirty
source scripts/ensure-postgres.sh
source scripts/ensure-pgbouncer.sh
cargo run -q -p saas-example --bin codegen -- generate --check
cargo test --workspace --all-targets "$@"
cargo test --workspace --doc
