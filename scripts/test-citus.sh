#!/usr/bin/env bash
# Runs the Citus test suite (tests/tests/citus/ and citus_strict.rs, `#[ignore]`d in the ordinary test run)
# against a local Citus cluster: a coordinator and two workers started by
# scripts/ensure-citus.sh (which builds Citus from CITUS_SRC when PostgreSQL 15 cannot load it)
# and a PgBouncer in transaction mode in front of the coordinator (scripts/ensure-pgbouncer.sh
# on its own port, CITUS_PGBOUNCER_PORT, default 6433).
#
#   CITUS_SRC=<Citus v13.2 source tree> scripts/test-citus.sh [extra cargo test arguments]
#
# Prints how long getting the cluster (including a build) and the suite took.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
source scripts/ensure-citus.sh
cluster_ready=$(date +%s)
(
  # The PgBouncer of the ordinary tests (6432) forwards to the single server; this one to the
  # coordinator. ensure-pgbouncer.sh reads DATABASE_URL and PGBOUNCER_PORT.
  unset PGBOUNCER_URL
  export DATABASE_URL="$CITUS_URL" PGBOUNCER_PORT="${CITUS_PGBOUNCER_PORT:-6433}"
  source scripts/ensure-pgbouncer.sh
  [ -n "${PGBOUNCER_URL:-}" ] || exit 1
  echo "$PGBOUNCER_URL" > "$CITUS_DIR/pgbouncer-url"
) || { echo "[sea-tenant citus] PgBouncer in front of the coordinator did not start" >&2; exit 1; }
CITUS_PGBOUNCER_URL=$(cat "$CITUS_DIR/pgbouncer-url")
export CITUS_PGBOUNCER_URL
cargo test -p sea-tenant-tests --test citus --test citus_strict -- --ignored "$@"
finished=$(date +%s)
echo "[sea-tenant citus] cluster ready in $((cluster_ready - started)) s; suite (build + tests) in $((finished - cluster_ready)) s"
