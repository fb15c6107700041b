#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the demo, the tests and the benchmarks.
#   tools/pg.sh start DIR [DBNAME]  init (once) and start a cluster in DIR on a free port;
#                                   prints the database URL (also written to DIR/url)
#   tools/pg.sh stop DIR            fast shutdown;  tools/pg.sh restart DIR [fast|immediate]
#   tools/pg.sh status DIR          exit 0 when running
#   tools/pg.sh url DIR             the database URL
#   tools/pg.sh psql DIR [ARGS...]  psql connected to the cluster's database
# The cluster runs as the `postgres` OS user when started by root (PostgreSQL refuses root).
# It has wal_level=logical, wal2json allowed as an output plugin, and pg_stat_statements.
set -euo pipefail

pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg.sh start|stop|restart|status|url|psql DIR}
dir=${2:?usage: pg.sh $cmd DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

running() { [ -f "$data/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "$cmd" in
  start)
    db=${3:-liveql}
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; chmod 755 "$dir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
      port=$(free_port)
      {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$data'"
        echo "wal_level = logical"
        # Tests leave inactive slots behind (one per liveql they start, several per pg test
        # file): 128 ran out once Relay's and functions' tests came (all replication slots
        # are in use). An inactive slot costs a few hundred bytes of shared memory.
        echo "max_replication_slots = 1024"
        echo "max_wal_senders = 64"  # a walsender per running liveql: e2e tests run side by side
        echo "max_connections = 200"
        echo "shared_preload_libraries = 'pg_stat_statements'"
        echo "pg_stat_statements.track = all"
        echo "fsync = ${LIVEQL_PG_FSYNC:-off}"
        echo "wal_sender_timeout = 30s"
        echo "log_min_messages = warning"
        # 15.19+ only lets listed libraries be logical decoding output plugins.
        described=$(cd / && as_pg "$pgbin/postgres" --describe-config 2>/dev/null || true)
        if grep -q '^output_plugin_libraries' <<<"$described"; then
          echo "output_plugin_libraries = 'pgoutput, test_decoding, wal2json'"
        fi
      } >>"$data/postgresql.conf"
      echo "local replication all trust" >>"$data/pg_hba.conf"
      echo "host replication all 127.0.0.1/32 trust" >>"$data/pg_hba.conf"
      echo "$port" >"$dir/port"
      echo "$db" >"$dir/dbname"
    fi
    port=$(cat "$dir/port")
    # Tests count statements in pg_stat_statements; at its default 5,000 entries a whole test
    # run (every test its own databases) evicted the least-used, a count of 1 among them. Added
    # to clusters initialised before, taking effect at their next start.
    if ! grep -q '^pg_stat_statements.max' "$data/postgresql.conf"; then
      echo "pg_stat_statements.max = 50000" >>"$data/postgresql.conf"
    fi
    if ! running; then
      # The port may have been taken since init; pick another one then.
      if ! as_pg "$pgbin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
        port=$(free_port); echo "$port" >"$dir/port"
        sed -i "s/^port = .*/port = $port/" "$data/postgresql.conf"
        as_pg "$pgbin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null \
          || { tail -20 "$dir/server.log" >&2; exit 1; }
      fi
    fi
    db=$(cat "$dir/dbname")
    # Slots left by earlier runs (a test killed, a pg test's own) hold WAL and count against
    # max_replication_slots (a cluster initialised before it was raised has 128): a run starts
    # without them. A logical slot is dropped from its own database.
    for slotdb in $("$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
        "select distinct database from pg_replication_slots where not active and database is not null"); do
      "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -d "$slotdb" -Atqc \
        "select count(pg_drop_replication_slot(slot_name)) from pg_replication_slots
         where not active and database = current_database()" >/dev/null 2>&1 || true
    done
    if ! "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc "select 1 from pg_database where datname='$db'" | grep -q 1; then
      "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
      "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -d "$db" -qc "create extension if not exists pg_stat_statements" >/dev/null
    fi
    echo "postgresql://postgres@127.0.0.1:$port/$db" | tee "$dir/url"
    ;;
  stop)
    if running; then as_pg "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
  restart)
    mode=${3:-fast}
    as_pg "$pgbin/pg_ctl" -D "$data" -m "$mode" -w stop >/dev/null || true
    as_pg "$pgbin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
  status)
    running
    ;;
  url)
    cat "$dir/url"
    ;;
  psql)
    shift 2
    exec "$pgbin/psql" "$(cat "$dir/url")" "$@"
    ;;
  *)
    echo "pg.sh: unknown command $cmd" >&2; exit 2
    ;;
esac
