#!/usr/bin/env bash
# A single-node Kafka broker (KRaft, combined broker+controller) on 127.0.0.1 for tests and demos.
#   scripts/kafka.sh start DATA_DIR PORT   format storage in DATA_DIR (once), start, wait until ready
#   scripts/kafka.sh stop DATA_DIR         stop the broker started on DATA_DIR (keeps its data)
# Stopping and starting again on the same DATA_DIR keeps topics and committed offsets (fault tests).
# The jars come from scripts/install-kafka.sh (.tools/kafka/libs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LIBS="${KAFKA_LIBS:-$ROOT/.tools/kafka/libs}"
cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DATA_DIR PORT | stop DATA_DIR" >&2; exit 2; }

start() {
  local port="$1"
  [ -d "$LIBS" ] || bash "$ROOT/scripts/install-kafka.sh"
  mkdir -p "$dir/logs"
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    echo "kafka already running on $dir (pid $(cat "$dir/kafka.pid"))"; return 0
  fi
  local cport
  if [ -f "$dir/controller.port" ]; then
    cport="$(cat "$dir/controller.port")"
  else
    cport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    echo "$cport" > "$dir/controller.port"
  fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
PROPS
  if [ ! -f "$dir/cluster.id" ]; then
    # URL-safe base64 of 16 random bytes; never starting with "-", which the storage tool's
    # argument parser would take for an option (as Kafka's own Uuid.randomUuid avoids).
    python3 -c '
import base64, os
while (cid := base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")).startswith("-"):
    pass
print(cid)' > "$dir/cluster.id"
  fi
  local java_opts=(-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    "-Dlog4j.configuration=file:$dir/log4j.properties" -Djava.awt.headless=true)
  if ! java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$(cat "$dir/cluster.id")" -c "$dir/server.properties" --ignore-formatted >"$dir/logs/format.log" 2>&1; then
    echo "kafka storage format failed:" >&2; tail -n 5 "$dir/logs/format.log" >&2; return 1
  fi
  local mark=0
  [ -f "$dir/logs/server.log" ] && mark="$(wc -l < "$dir/logs/server.log")"
  nohup java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/logs/stdout.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
  for _ in $(seq 1 600); do
    if [ -f "$dir/logs/server.log" ] && tail -n +"$((mark + 1))" "$dir/logs/server.log" | grep -q "Kafka Server started"; then
      echo "kafka ready on 127.0.0.1:$port (pid $(cat "$dir/kafka.pid"))"; return 0
    fi
    if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
      echo "kafka exited during start-up; last log lines:" >&2
      tail -n 30 "$dir/logs/stdout.log" "$dir/logs/server.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  echo "kafka not ready after 60s" >&2
  return 1
}

stop() {
  [ -f "$dir/kafka.pid" ] || return 0
  local pid
  pid="$(cat "$dir/kafka.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/kafka.pid"
}

case "$cmd" in
  start) [ -n "${3:-}" ] || { echo "usage: $0 start DATA_DIR PORT" >&2; exit 2; }; start "$3" ;;
  stop) stop ;;
  *) echo "unknown command $cmd (start|stop)" >&2; exit 2 ;;
esac
