# deploy/lib/postgres.sh: create, start, stop and restart a private
# PostgreSQL 15 server, for the cluster scripts and the store tests. Source
# it; every function takes the server's directory DIR first and keeps all of
# its state there:
#   DIR/pgdata/             the data directory (owner postgres, mode 0700);
#                           DIR/pgdata/ferry.conf holds the settings below
#   DIR/pgsock/             the unix socket directory
#   DIR/logs/postgres.log   the server log
# It never touches the system cluster and uses no service manager: initdb and
# postgres refuse to run as root, so when called as root the binaries run as
# the OS user postgres through runuser (which therefore must be able to reach
# DIR). The server listens on 127.0.0.1 only, with fsync and
# synchronous_commit on; role `ferry` (trusted over TCP from 127.0.0.1, may
# create databases) owns database `ferry`. Waits are bounded (pg_ctl -w -t);
# a function that fails says why on stderr and returns non-zero. Only the
# URL is ever printed on stdout, so `url=$(pg_up DIR PORT)` works.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_WAIT_SECONDS=${PG_WAIT_SECONDS:-60}

# pg_up DIR PORT: creates the server in DIR if there is none yet (an existing
# one keeps its data), listening on PORT; (re)starts it, makes sure role and
# database `ferry` exist and prints postgresql://ferry@127.0.0.1:PORT/ferry.
pg_up() {
  local dir port
  [ $# -eq 2 ] || { echo "usage: pg_up DIR PORT" >&2; return 2; }
  mkdir -p "$1/logs" "$1/pgsock" || return 1
  dir=$(cd "$1" && pwd) || return 1
  port=$2
  _pg_prepare_dir "$dir" || return 1
  if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
    _pg_initdb "$dir" || return 1
  fi
  _pg_write_conf "$dir" "$port" || return 1
  # A running server would keep its old port: restart it with the new one.
  if pg_running "$dir"; then pg_down "$dir" || return 1; fi
  pg_start "$dir" || return 1
  _pg_ensure_role_and_db "$dir" || return 1
  pg_url "$dir"
}

# pg_start DIR: starts the server created by pg_up (e.g. after pg_down or a
# crash) and waits until it accepts connections.
pg_start() {
  local dir=$1
  _pg_ctl "$dir" start -l "$dir/logs/postgres.log" || {
    echo "postgres.sh: server in $dir did not start (see $dir/logs/postgres.log)" >&2
    return 1
  }
}

# pg_down DIR [MODE]: shutdown (MODE fast by default: open transactions roll
# back, clients are disconnected; immediate: no checkpoint, for data about to
# be deleted) and waits until the server is gone. Succeeds if it was not
# running.
pg_down() {
  local dir=$1 mode=${2:-fast}
  [ -f "$dir/pgdata/PG_VERSION" ] || return 0
  pg_running "$dir" || return 0
  _pg_ctl "$dir" stop -m "$mode" || {
    echo "postgres.sh: server in $dir did not stop" >&2
    return 1
  }
}

# pg_restart DIR: fast shutdown, then start again with the same settings;
# returns once the server accepts connections.
pg_restart() {
  local dir=$1
  _pg_ctl "$dir" restart -m fast -l "$dir/logs/postgres.log" || {
    echo "postgres.sh: server in $dir did not restart (see $dir/logs/postgres.log)" >&2
    return 1
  }
}

# pg_running DIR: true if the server of DIR is running.
pg_running() {
  [ -f "$1/pgdata/PG_VERSION" ] && _pg_as "$PG_BIN/pg_ctl" -D "$1/pgdata" status >/dev/null 2>&1
}

# pg_pid DIR: the postmaster's PID (nothing, and false, if not running).
pg_pid() {
  pg_running "$1" && head -1 "$1/pgdata/postmaster.pid"
}

# pg_url DIR: the URL of role and database `ferry` on the configured port.
pg_url() {
  local port
  port=$(_pg_port "$1") || return 1
  echo "postgresql://ferry@127.0.0.1:$port/ferry"
}

# ---- internals ----

# _pg_as CMD...: runs CMD as the OS user postgres (directly if we are it),
# from / so a working directory postgres cannot read does not matter.
_pg_as() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  elif [ "$(id -un)" = postgres ]; then
    (cd / && "$@")
  else
    echo "postgres.sh: must run as root or as postgres" >&2
    return 1
  fi
}

_pg_ctl() {
  local dir=$1
  shift
  _pg_as "$PG_BIN/pg_ctl" -D "$dir/pgdata" -w -t "$PG_WAIT_SECONDS" "$@" >/dev/null
}

_pg_port() {
  sed -n 's/^port = \([0-9]*\)$/\1/p' "$1/pgdata/ferry.conf" 2>/dev/null | grep . || {
    echo "postgres.sh: no server configured in $1" >&2
    return 1
  }
}

# The server runs as postgres: it must own its data, socket and log, and be
# able to reach them. Ancestors of DIR are not changed; if one of them is
# closed to postgres, say so instead.
_pg_prepare_dir() {
  local dir=$1
  chmod a+rx "$dir" "$dir/logs" 2>/dev/null || true
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir/pgsock" || return 1
    touch "$dir/logs/postgres.log" && chown postgres:postgres "$dir/logs/postgres.log" || return 1
  fi
  chmod 0755 "$dir/pgsock" || return 1
  _pg_as test -x "$dir/pgsock" -a -w "$dir/logs/postgres.log" || {
    echo "postgres.sh: user postgres cannot reach $dir (is every parent directory searchable?)" >&2
    return 1
  }
}

_pg_initdb() {
  local dir=$1
  rm -rf "$dir/pgdata"
  mkdir -p "$dir/pgdata" || return 1
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir/pgdata" || return 1; fi
  chmod 0700 "$dir/pgdata" || return 1
  # C.UTF-8: byte-order collation and no dependence on the host's locales.
  _pg_as "$PG_BIN/initdb" -D "$dir/pgdata" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=reject >>"$dir/logs/postgres.log" 2>&1 || {
    echo "postgres.sh: initdb failed (see $dir/logs/postgres.log)" >&2
    return 1
  }
  echo "include 'ferry.conf'" >>"$dir/pgdata/postgresql.conf"
  # Local superuser access only as the OS user postgres; ferry over TCP from
  # loopback without a password (the server listens on nothing else).
  cat >"$dir/pgdata/pg_hba.conf" <<'EOF'
# Written by deploy/lib/postgres.sh.
local all postgres              peer
host  all ferry    127.0.0.1/32 trust
EOF
  chown postgres:postgres "$dir/pgdata/pg_hba.conf" 2>/dev/null || true
}

_pg_write_conf() {
  local dir=$1 port=$2
  cat >"$dir/pgdata/ferry.conf.tmp" <<EOF
# Written by deploy/lib/postgres.sh pg_up; rewritten on every pg_up.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/pgsock'
# A commit is answered only once it is on disk: ferryd acknowledges a send
# only after its WriteBatch committed.
fsync = on
synchronous_commit = on
full_page_writes = on
# Several ferryd nodes and parallel tests, each with a few connections.
max_connections = 200
# Writers on different nodes may deadlock across ops of two batches; the
# store retries the loser, so find out quickly rather than after 1 s.
deadlock_timeout = 100ms
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
EOF
  chown postgres:postgres "$dir/pgdata/ferry.conf.tmp" 2>/dev/null || true
  mv "$dir/pgdata/ferry.conf.tmp" "$dir/pgdata/ferry.conf"
}

_pg_psql() {
  local dir=$1 port
  shift
  port=$(_pg_port "$dir") || return 1
  _pg_as "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/pgsock" -p "$port" -U postgres \
    -d postgres "$@"
}

_pg_ensure_role_and_db() {
  local dir=$1
  if ! _pg_psql "$dir" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'ferry'" | grep -q 1; then
    _pg_psql "$dir" -c "CREATE ROLE ferry LOGIN CREATEDB" || return 1
  fi
  if ! _pg_psql "$dir" -tAc "SELECT 1 FROM pg_database WHERE datname = 'ferry'" | grep -q 1; then
    _pg_psql "$dir" -c "CREATE DATABASE ferry OWNER ferry" || return 1
  fi
}
