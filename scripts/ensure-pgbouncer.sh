# Sourced by scripts/test.sh after ensure-postgres.sh: makes sure a PgBouncer in transaction
# pooling mode forwards to the server in DATABASE_URL, and exports PGBOUNCER_URL (a server URL
# through PgBouncer; tests swap in their own database name, which the `*` entry forwards).
#
# Idempotent: an already listening PgBouncer on the port is reused. Installs Debian's package
# when missing (as root). PgBouncer refuses to run as root, so it runs as `postgres` then.
# Set PGBOUNCER_URL yourself to use another PgBouncer; PGBOUNCER_PORT picks the port.

st_pgb_log() { printf '[sea-tenant] %s\n' "$*" >&2; }

st_pgb_reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

st_ensure_pgbouncer() {
  local port="${PGBOUNCER_PORT:-6432}" dir bin version owner="" rest hostport host pgport user
  dir="${TMPDIR:-/tmp}/sea-tenant-pgbouncer-$port"

  if ! bin=$(command -v pgbouncer || ls /usr/sbin/pgbouncer 2>/dev/null); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      st_pgb_log "pgbouncer is not installed; installing it with apt-get"
      apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null \
        || { st_pgb_log "apt-get could not install pgbouncer"; return 1; }
      # The package starts a system-wide instance on 6432 with its own config; stop it so our
      # instance (forwarding to DATABASE_URL's server) owns the port.
      if command -v service >/dev/null 2>&1; then service pgbouncer stop >/dev/null 2>&1 || true; fi
      local pid
      pid=$(cat /var/run/postgresql/pgbouncer.pid 2>/dev/null || true)
      [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
      sleep 0.5
    else
      st_pgb_log "pgbouncer is not installed (Debian: apt-get install pgbouncer); PgBouncer tests will fail"
      return 1
    fi
    bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  fi

  # DATABASE_URL: postgres://user[:pass]@host[:port]/db[?…]; sourced on its own (without
  # ensure-postgres.sh) it forwards to the local server the tests default to.
  rest=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  rest=${rest#*://}
  user=${rest%%@*}; user=${user%%:*}
  case "$rest" in *@*) hostport=${rest#*@} ;; *) hostport=$rest; user=postgres ;; esac
  hostport=${hostport%%/*}; hostport=${hostport%%\?*}
  host=${hostport%%:*}; pgport=${hostport##*:}
  [ "$pgport" = "$hostport" ] && pgport=5432
  [ -n "$user" ] || user=postgres

  if st_pgb_reachable "$port"; then
    st_pgb_log "reusing the PgBouncer listening on 127.0.0.1:$port"
    export PGBOUNCER_URL="postgres://$user@127.0.0.1:$port/postgres"
    return 0
  fi

  version=$("$bin" --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1)
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    owner=postgres
    chown "$owner" "$dir"
  fi
  # auth_type=trust still wants each user listed (the server itself is trust auth here).
  # The strict-mode tests also log in as their runtime roles (tests/src/strict.rs).
  printf '"%s" ""\n' "$user" st_strict_app st_citus_strict_app > "$dir/userlist.txt"
  {
    echo "[databases]"
    # Any database name goes to the same server: every test creates a database of its own.
    echo "* = host=$host port=$pgport"
    echo "[pgbouncer]"
    echo "listen_addr = 127.0.0.1"
    echo "listen_port = $port"
    echo "unix_socket_dir ="
    echo "auth_type = trust"
    echo "auth_file = $dir/userlist.txt"
    echo "pool_mode = transaction"
    echo "max_client_conn = 500"
    echo "default_pool_size = 20"
    echo "ignore_startup_parameters = extra_float_digits,options,search_path"
    echo "logfile = $dir/pgbouncer.log"
    echo "pidfile = $dir/pgbouncer.pid"
    # PgBouncer tracks named prepared statements from 1.21 on; older ones (Debian 12 ships
    # 1.18) need clients without a statement cache (sqlx: statement_cache_capacity(0)).
    if [ -n "$version" ] && [ "$(printf '%s\n1.21\n' "$version" | sort -V | head -1)" = "1.21" ]; then
      echo "max_prepared_statements = 200"
    fi
  } > "$dir/pgbouncer.ini"
  [ -n "$owner" ] && chown "$owner" "$dir/pgbouncer.ini" "$dir/userlist.txt"
  rm -f "$dir/pgbouncer.pid"

  st_pgb_log "starting PgBouncer $version (transaction pooling) on 127.0.0.1:$port -> $host:$pgport"
  if [ -n "$owner" ]; then
    runuser -u "$owner" -- "$bin" -d "$dir/pgbouncer.ini" || { st_pgb_log "pgbouncer did not start (see $dir/pgbouncer.log)"; return 1; }
  else
    "$bin" -d "$dir/pgbouncer.ini" || { st_pgb_log "pgbouncer did not start (see $dir/pgbouncer.log)"; return 1; }
  fi
  for _ in $(seq 1 50); do
    if st_pgb_reachable "$port"; then
      export PGBOUNCER_URL="postgres://$user@127.0.0.1:$port/postgres"
      return 0
    fi
    sleep 0.1
  done
  st_pgb_log "pgbouncer is not listening on 127.0.0.1:$port (see $dir/pgbouncer.log)"
  return 1
}

if [ -n "${PGBOUNCER_URL:-}" ]; then
  st_pgb_log "using PGBOUNCER_URL from the environment"
else
  # Not fatal here: the PgBouncer tests fail with a clear message when PGBOUNCER_URL is unset.
  st_ensure_pgbouncer || st_pgb_log "PgBouncer is unavailable; its tests will fail"
fi
