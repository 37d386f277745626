#!/usr/bin/env bash
# Backfill OpenMetrics into a throw-away TSDB and run a real Prometheus on 127.0.0.1 over it.
#
#   scripts/prometheus.sh backfill DATA_DIR          # every DATA_DIR/*.om → DATA_DIR/tsdb (promtool)
#   scripts/prometheus.sh start DATA_DIR PORT        # backfill if needed, start, wait until ready
#   scripts/prometheus.sh stop DATA_DIR              # stop the Prometheus started on DATA_DIR
#
# Long retention keeps Prometheus from deleting old backfilled blocks at start-up.
set -euo pipefail

PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}

usage() { echo "usage: $0 backfill DATA_DIR | start DATA_DIR PORT | stop DATA_DIR" >&2; exit 2; }

backfill() {
  local dir=$1
  [ -d "$dir" ] || { echo "error: $dir is not a directory" >&2; exit 2; }
  if [ -f "$dir/tsdb/.backfilled" ]; then return 0; fi
  shopt -s nullglob
  local files=("$dir"/*.om)
  [ ${#files[@]} -gt 0 ] || { echo "error: no *.om OpenMetrics files in $dir" >&2; exit 2; }
  rm -rf "$dir/tsdb"
  mkdir -p "$dir/tsdb"
  for f in "${files[@]}"; do
    "$PROMTOOL" tsdb create-blocks-from openmetrics --max-block-duration=24h "$f" "$dir/tsdb" >"$dir/backfill.log" 2>&1 \
      || { echo "error: promtool failed on $f (see $dir/backfill.log)" >&2; tail -5 "$dir/backfill.log" >&2; exit 1; }
  done
  touch "$dir/tsdb/.backfilled"
}

start() {
  local dir=$1 port=$2
  backfill "$dir"
  cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 60s
scrape_configs: []
EOF
  "$PROMETHEUS" \
    --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/tsdb" \
    --storage.tsdb.retention.time=3650d \
    --web.listen-address="127.0.0.1:$port" \
    --query.max-samples=200000000 \
    --query.timeout=5m \
    --log.level=warn \
    >"$dir/prometheus.log" 2>&1 &
  echo $! >"$dir/prometheus.pid"
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      echo "prometheus ready on http://127.0.0.1:$port (pid $(cat "$dir/prometheus.pid"))"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/prometheus.pid")" 2>/dev/null; then
      echo "error: prometheus exited; log:" >&2; tail -20 "$dir/prometheus.log" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "error: prometheus not ready on port $port after 60s" >&2
  exit 1
}

stop() {
  local dir=$1 pidfile="$1/prometheus.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  backfill) [ $# -eq 2 ] || usage; backfill "$2" ;;
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
