#!/usr/bin/env bash
# Makes sure a local Citus cluster (a coordinator and two workers on loopback ports) runs, and
# exports CITUS_URL, a server URL of the coordinator. Source it (scripts/test-citus.sh does) or
# run it.
#
# 1. Citus: used as installed when the PostgreSQL 15 server can load it (its control file is in
#    the server's extension directory, which is what pg_available_extensions lists). Otherwise it
#    is built from the source tree named by CITUS_SRC (tag v13.2.x; Citus is not in Debian's
#    packages): the build dependencies are installed with apt-get when missing (as root), the tree
#    is copied to .citus/build (the source tree itself is never modified, nor ever committed
#    here), patched for PostgreSQL 15.20 and installed into the server's directories.
# 2. The cluster: data directories in .citus/cluster/{coordinator,worker1,worker2}, ports
#    CITUS_PORT (default 5433) and the two after it, trust authentication. A node already
#    listening is reused, a stopped one started, a missing one created; then the citus extension
#    is created in each node's `postgres` database and the workers are added to the coordinator.
#    Databases made later need the same (tests/src/citus.rs does it per test database).
#
# scripts/citus-node.sh stops and starts single nodes (the fault tests stop a worker).

st_citus_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
st_citus_bin=${CITUS_PG_BIN:-/usr/lib/postgresql/15/bin}
st_citus_port=${CITUS_PORT:-5433}
st_citus_dir="$st_citus_root/.citus"

st_citus_log() { printf '[sea-tenant citus] %s\n' "$*" >&2; }

# The Debian packages Citus v13.2 builds with (PostgreSQL 15's server headers included).
st_citus_build_deps="postgresql-server-dev-15 autoconf flex gcc make libcurl4-gnutls-dev libicu-dev
  libkrb5-dev liblz4-dev libpam0g-dev libreadline-dev libselinux1-dev libssl-dev libxslt1-dev
  libzstd-dev uuid-dev"

st_citus_installed() {
  [ -f /usr/share/postgresql/15/extension/citus.control ] && [ -f /usr/lib/postgresql/15/lib/citus.so ]
}

st_citus_missing_deps() {
  local pkg
  for pkg in $st_citus_build_deps; do
    dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$pkg"
  done
}

st_citus_build() {
  local missing build
  if [ -z "${CITUS_SRC:-}" ]; then
    st_citus_log "Citus is not installed for PostgreSQL 15 (no citus.control in /usr/share/postgresql/15/extension)"
    st_citus_log "and CITUS_SRC is unset. Set CITUS_SRC to a Citus v13.2 source tree, e.g."
    st_citus_log "  git clone --branch v13.2.2 https://github.com/citusdata/citus /tmp/citus"
    st_citus_log "  CITUS_SRC=/tmp/citus scripts/test-citus.sh"
    return 1
  fi
  if [ ! -f "$CITUS_SRC/configure" ] || [ ! -f "$CITUS_SRC/src/backend/distributed/citus.control" ]; then
    st_citus_log "CITUS_SRC=$CITUS_SRC is not a Citus source tree (no configure / citus.control in it)"
    return 1
  fi
  missing=$(st_citus_missing_deps)
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      st_citus_log "installing Citus's build dependencies with apt-get: $missing"
      # shellcheck disable=SC2086 # one package per word
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || { st_citus_log "apt-get could not install: $missing"; return 1; }
    else
      st_citus_log "Citus's build dependencies are missing (Debian packages): $missing"
      st_citus_log "install them (as root: apt-get install $missing) and rerun"
      return 1
    fi
  fi
  build="$st_citus_dir/build"
  st_citus_log "building Citus from $CITUS_SRC in $build (a few minutes on 2 cores)"
  rm -rf "$build" && mkdir -p "$build" && cp -a "$CITUS_SRC/." "$build/" || return 1
  # PostgreSQL 15.20 exports have_createdb_privilege() itself; Citus v13.2's compatibility header
  # still defines a static copy for PostgreSQL < 16, which then fails to compile ("static
  # declaration follows non-static declaration"). Drop the copy so the server's is used.
  if grep -rqs 'have_createdb_privilege' "$("$st_citus_bin/pg_config" --includedir-server)/commands/"; then
    perl -0pi -e 's/static inline bool\s*\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n//s' \
      "$build/src/include/pg_version_compat.h" || return 1
  fi
  (
    cd "$build" \
      && ./configure -q PG_CONFIG="$st_citus_bin/pg_config" >"$build/configure.out" 2>&1 \
      && make -s -j"$(nproc)" >"$build/make.out" 2>&1 \
      && make -s install >"$build/install.out" 2>&1
  ) || { st_citus_log "the Citus build failed; see $build/{configure,make,install}.out"; return 1; }
  st_citus_installed || { st_citus_log "make install did not install citus for PostgreSQL 15"; return 1; }
  st_citus_log "Citus installed"
}

st_citus_reachable() { "$st_citus_bin/pg_isready" -q -h 127.0.0.1 -p "$1" -t 2; }

# Runs a program as the nodes' owner: PostgreSQL refuses to run as root.
st_citus_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

st_citus_psql() { PGOPTIONS="-c client_min_messages=warning" "$st_citus_bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres "$@"; }

# st_citus_node NAME PORT: the node runs on PORT afterwards (created or started if need be).
st_citus_node() {
  local name=$1 port=$2 data="$st_citus_dir/cluster/$1"
  if st_citus_reachable "$port"; then
    # Something else on the port would make every later step fail confusingly.
    if [ "$(st_citus_psql -p "$port" -c 'SHOW data_directory' 2>/dev/null)" != "$data" ]; then
      st_citus_log "127.0.0.1:$port is taken by another server; set CITUS_PORT to a free range"
      return 1
    fi
    return 0
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    st_citus_log "creating node $name in $data"
    mkdir -p "$data" || return 1
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres; chown postgres "$data"; }
    st_citus_as_owner "$st_citus_bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null || return 1
    # citus_schema_move copies a schema's shards with logical replication: wal_level = logical.
    st_citus_as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# sea-tenant's local Citus node ($name)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
shared_preload_libraries = 'citus'
max_connections = 300
wal_level = logical
shared_buffers = 64MB
EOF
  fi
  st_citus_log "starting node $name on 127.0.0.1:$port"
  st_citus_as_owner "$st_citus_bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null \
    || { st_citus_log "node $name did not start; see $data/server.log"; return 1; }
}

st_ensure_citus() {
  local coordinator=$st_citus_port worker1=$((st_citus_port + 1)) worker2=$((st_citus_port + 2)) port
  [ -x "$st_citus_bin/initdb" ] || { st_citus_log "no PostgreSQL 15 server binaries in $st_citus_bin (Debian: apt-get install postgresql-15)"; return 1; }
  st_citus_installed || st_citus_build || return 1
  st_citus_node coordinator "$coordinator" || return 1
  st_citus_node worker1 "$worker1" || return 1
  st_citus_node worker2 "$worker2" || return 1
  for port in "$coordinator" "$worker1" "$worker2"; do
    st_citus_psql -p "$port" -c 'CREATE EXTENSION IF NOT EXISTS citus' || return 1
  done
  st_citus_psql -p "$coordinator" -c "SELECT citus_set_coordinator_host('127.0.0.1', $coordinator)" >/dev/null || return 1
  for port in "$worker1" "$worker2"; do
    if [ "$(st_citus_psql -p "$coordinator" -c "SELECT count(*) FROM pg_dist_node WHERE nodeport = $port")" = 0 ]; then
      st_citus_psql -p "$coordinator" -c "SELECT citus_add_node('127.0.0.1', $port)" >/dev/null || return 1
    fi
  done
  # Citus turns SSL on with a self-signed X.509 v1 certificate that rustls rejects: loopback only.
  export CITUS_URL="postgres://postgres@127.0.0.1:$coordinator/postgres?sslmode=disable"
  export CITUS_DIR="$st_citus_dir"
  st_citus_log "cluster up: coordinator 127.0.0.1:$coordinator, workers :$worker1 :$worker2"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  st_ensure_citus || exit 1
  echo "CITUS_URL=$CITUS_URL"
else
  st_ensure_citus || return 1
fi
