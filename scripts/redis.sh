#!/usr/bin/env bash
# Real Redis for tests and benchmarks, on 127.0.0.1 with a throw-away directory, no persistence.
#   scripts/redis.sh start PORT DIR   start (daemonized) and wait until it answers PING
#   scripts/redis.sh stop DIR         stop the server started in DIR and wait for it to exit
set -euo pipefail
cmd=${1:-}
case "$cmd" in
  start)
    port=${2:?usage: redis.sh start PORT DIR}
    dir=${3:?usage: redis.sh start PORT DIR}
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
      --protected-mode yes --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 1 200); do
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then exit 0; fi
      sleep 0.05
    done
    echo "redis did not answer on 127.0.0.1:$port; log:" >&2
    cat "$dir/redis.log" >&2 || true
    exit 1
    ;;
  stop)
    dir=${2:?usage: redis.sh stop DIR}
    [ -f "$dir/redis.pid" ] || exit 0
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    ;;
  *)
    echo "usage: redis.sh start PORT DIR | stop DIR" >&2
    exit 2
    ;;
esac
