# Sourced by the other scripts: makes sure a PostgreSQL server is reachable and exports
# DATABASE_URL pointing at it (a server URL; tests create and drop their own databases in it).
#
# Order: an explicit DATABASE_URL; else the server on 127.0.0.1:5432; else a throwaway cluster
# in .pgdata/ started from the installed server binaries (installed with apt when root).

sea_tenant_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

st_log() { printf '[sea-tenant] %s\n' "$*" >&2; }

st_pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

st_reachable() {
  # pg_isready comes with the client package; fall back to bash's /dev/tcp.
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$1" -p "$2" -t 2
  else
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
  fi
}

st_start_local_cluster() {
  local bindir data port=54329 owner=""
  if ! bindir=$(st_pg_bindir); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      st_log "no PostgreSQL server binaries found; installing them with apt-get"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
      bindir=$(st_pg_bindir) || { st_log "apt-get installed no initdb/pg_ctl"; return 1; }
    else
      st_log "nothing listens on 127.0.0.1:5432 and no PostgreSQL server binaries are installed."
      st_log "Install them (Debian: apt-get install postgresql) or set DATABASE_URL to a server."
      return 1
    fi
  fi
  data="$sea_tenant_root/.pgdata"
  # initdb refuses to run as root: the throwaway cluster belongs to the postgres user then.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    owner=postgres
  fi
  st_as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }
  if [ ! -f "$data/PG_VERSION" ]; then
    st_log "creating a throwaway cluster in $data"
    mkdir -p "$data"; [ -n "$owner" ] && chown "$owner" "$data"
    st_as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! st_reachable 127.0.0.1 "$port"; then
    st_log "starting the throwaway cluster on 127.0.0.1:$port"
    st_as_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$data -c max_connections=200 -c fsync=off" start >/dev/null
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

if [ -n "${DATABASE_URL:-}" ]; then
  st_log "using DATABASE_URL from the environment"
elif st_reachable 127.0.0.1 5432; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
else
  st_start_local_cluster || return 1 2>/dev/null || exit 1
fi
