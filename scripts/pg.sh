# Throwaway PostgreSQL cluster for the test suite. Sourced by scripts/test.sh.
#
#   pg_start   -> initdb + pg_ctl start in a temp dir, 127.0.0.1 only, fsync off;
#                 exports PG_URL (postgresql+psycopg://postgres@127.0.0.1:PORT/postgres)
#   pg_stop    -> stops the cluster and removes its directory
#
# Debian's server binaries are used directly, run as the `postgres` user.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_DIR=""

pg_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

pg_start() {
  [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; return 1; }
  PG_DIR=$(mktemp -d /tmp/learnlink-pg.XXXXXX)
  chown postgres "$PG_DIR" 2>/dev/null || sudo chown postgres "$PG_DIR"
  chmod 700 "$PG_DIR"
  PG_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  pg_as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  # A test cluster: durability off (fsync, synchronous_commit, full_page_writes) for speed.
  pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  export PG_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') test cluster on 127.0.0.1:$PG_PORT ($PG_DIR)"
}

pg_create_db() {
  pg_as_postgres "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
  echo "postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/$1"
}

pg_stop() {
  [ -n "$PG_DIR" ] || return 0
  pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}
