# Start a throw-away PostgreSQL on 127.0.0.1 for tests; sourced by .ci/run (and usable by hand).
# Exports SHELF_TEST_POSTGRES_URL.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DIR=${PG_DIR:-/tmp/shelf-pg-$$}
PG_PORT=${PG_PORT:-54329}

start_postgres() {
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$PG_DIR"
  su postgres -s /bin/sh -c "$PG_BIN/initdb -D $PG_DIR/data -A trust -U shelf >/dev/null"
  su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w \
    -o '-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on' start >/dev/null"
  su postgres -s /bin/sh -c "$PG_BIN/createdb -h 127.0.0.1 -p $PG_PORT -U shelf shelf_test"
  export SHELF_TEST_POSTGRES_URL="postgresql+psycopg://shelf@127.0.0.1:$PG_PORT/shelf_test"
  echo "PostgreSQL running: $SHELF_TEST_POSTGRES_URL"
}

stop_postgres() {
  su postgres -s /bin/sh -c "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop >/dev/null" || true
  rm -rf "$PG_DIR"
}
