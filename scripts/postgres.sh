#!/usr/bin/env bash
# Real PostgreSQL (Debian package) for tests, benchmarks and demos: a throw-away cluster on
# 127.0.0.1, trust auth for user "cloudmart", database "cloudmart", no Unix socket, no fsync.
#   scripts/postgres.sh start PORT DIR   initdb into DIR/pgdata (if needed), start, wait until ready
#   scripts/postgres.sh stop DIR         fast shutdown (data kept; start again with the same DIR)
#   scripts/postgres.sh destroy DIR      stop and delete the cluster
# PostgreSQL refuses to run as root: as root the cluster runs as the "postgres" user, in a
# directory it can reach (/tmp/cloudmart-pg.*) recorded in DIR/pgdata.path.
set -euo pipefail
cmd=${1:-}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ]; then
  echo "PostgreSQL is not installed (run scripts/install-servers.sh)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

datadir_of() {  # datadir_of DIR -> the cluster directory
  local dir=$1
  if [ -f "$dir/pgdata.path" ]; then cat "$dir/pgdata.path"; else echo "$dir/pgdata"; fi
}

case "$cmd" in
  start)
    port=${2:?usage: postgres.sh start PORT DIR}
    dir=${3:?usage: postgres.sh start PORT DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ ! -f "$dir/pgdata.path" ] && [ ! -d "$dir/pgdata" ]; then
      if [ "$(id -u)" = 0 ]; then
        pgdata=$(mktemp -d /tmp/cloudmart-pg.XXXXXX)
        chown postgres: "$pgdata"
        echo "$pgdata" > "$dir/pgdata.path"
      else
        pgdata="$dir/pgdata"
        mkdir -p "$pgdata"
      fi
      as_pg "$bindir/initdb" -D "$pgdata" -U cloudmart --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    pgdata=$(datadir_of "$dir")
    as_pg "$bindir/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null || { cat "$pgdata/server.log" >&2; exit 1; }
    echo "$port" > "$dir/port"
    for _ in $(seq 1 200); do
      if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then break; fi
      sleep 0.05
    done
    if ! "$bindir/psql" -h 127.0.0.1 -p "$port" -U cloudmart -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='cloudmart'" | grep -q 1; then
      "$bindir/createdb" -h 127.0.0.1 -p "$port" -U cloudmart cloudmart
    fi
    echo "postgresql://cloudmart@127.0.0.1:$port/cloudmart"
    ;;
  stop)
    dir=${2:?usage: postgres.sh stop DIR}
    [ -d "$dir" ] || exit 0
    pgdata=$(datadir_of "$dir")
    [ -f "$pgdata/postmaster.pid" ] || exit 0
    as_pg "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
  destroy)
    dir=${2:?usage: postgres.sh destroy DIR}
    [ -d "$dir" ] || exit 0
    "$0" stop "$dir"
    pgdata=$(datadir_of "$dir")
    rm -rf "$pgdata"
    rm -f "$dir/pgdata.path"
    ;;
  *)
    echo "usage: postgres.sh start PORT DIR | stop DIR | destroy DIR" >&2
    exit 2
    ;;
esac
