#!/usr/bin/env bash
# Stops or starts one node of the local Citus cluster made by scripts/ensure-citus.sh, for fault
# tests: `scripts/citus-node.sh stop worker1`, `scripts/citus-node.sh start worker1`,
# `scripts/citus-node.sh status worker2`. Nodes: coordinator, worker1, worker2.
# `stop` is a fast shutdown (connections are ended, as when a machine goes away) and waits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CITUS_PG_BIN:-/usr/lib/postgresql/15/bin}
action=${1:-}; node=${2:-}
case "$node" in coordinator|worker1|worker2) ;; *) echo "usage: $0 stop|start|status coordinator|worker1|worker2" >&2; exit 2 ;; esac
# CITUS_DIR: the cluster ensure-citus.sh exported (another checkout's, say); else this one's.
data="${CITUS_DIR:-$root/.citus}/cluster/$node"
[ -f "$data/PG_VERSION" ] || { echo "no node $node in $data: run scripts/ensure-citus.sh first" >&2; exit 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
  stop) as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ;;
  start) as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null ;;
  status) as_owner "$bin/pg_ctl" -D "$data" status >/dev/null && echo running || { echo stopped; exit 3; } ;;
  *) echo "usage: $0 stop|start|status coordinator|worker1|worker2" >&2; exit 2 ;;
esac
