#!/usr/bin/env bash
# Is dec's Kafka producer the bottleneck against a real broker? Starts one Apache Kafka broker
# (KRaft, combined broker + controller, from tools/kafka/lib) on loopback and measures, with the
# same message count and size, acks and linger:
#   perf-test: Kafka's own kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance,
#              the Java client), unthrottled;
#   native:    a bare librdkafka loop, and
#   dec:       load::Engine over dec's Kafka driver, as `dec run` drives it
# (the last two alternately, from bench/kafka_vs_native_bench). Prints each rate and the ratios
# dec / perf-test and dec / native (target >= 0.9; the goal is >= 1.0).
#
#   bench/kafka_vs_perf_test.sh
#   MESSAGES=1000000 SIZE=1024 ACKS=1 ROUNDS=3 BUILD_DIR=build-me bench/kafka_vs_perf_test.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BENCH=${BENCH:-$BUILD_DIR/bench/kafka_vs_native_bench}
LIB=$ROOT/tools/kafka/lib
MESSAGES=${MESSAGES:-500000}
SIZE=${SIZE:-100}
ACKS=${ACKS:-all}
LINGER_MS=${LINGER_MS:-5}
PARTITIONS=${PARTITIONS:-3}
ROUNDS=${ROUNDS:-3}
HEAP=${HEAP:-1g}

[[ -d "$LIB" ]] || { echo "Apache Kafka is not installed ($LIB missing): run scripts/setup" >&2; exit 1; }
for tool in java "$BENCH"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (build with scripts/build)" >&2; exit 1; }
done

DIR=$(mktemp -d /tmp/dec-kafka-bench-XXXXXX)
BROKER_PID=""
cleanup() {
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
    kill "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
CONTROLLER_PORT=$(free_port)
cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
cat >"$DIR/log4j2.properties" <<'EOF'
status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
EOF
JAVA=(java -cp "$LIB/*" "-Dlog4j2.configurationFile=$DIR/log4j2.properties")
"${JAVA[@]}" kafka.tools.StorageTool format -t "$("${JAVA[@]}" kafka.tools.StorageTool random-uuid)" \
  -c "$DIR/server.properties" >"$DIR/format.log" 2>&1
"${JAVA[@]}" "-Xmx$HEAP" kafka.Kafka "$DIR/server.properties" >"$DIR/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$BROKER_PID" 2>/dev/null || { cat "$DIR/broker.log" >&2; exit 1; }
  sleep 0.1
done
VERSION=$(ls "$LIB" | sed -n 's/^kafka_2\.13-\(.*\)\.jar$/\1/p')
echo "Apache Kafka $VERSION (KRaft, 1 broker) on 127.0.0.1:$PORT; $MESSAGES x ${SIZE}B, acks=$ACKS, linger.ms=$LINGER_MS, $PARTITIONS partitions"

# Kafka's own tool: the Java producer, unthrottled, on a fresh topic per round.
perf_rates=()
for round in $(seq 1 "$ROUNDS"); do
  topic="perf-$round"
  "${JAVA[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$PORT" --create \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null 2>&1
  line=$("${JAVA[@]}" org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
    --num-records "$MESSAGES" --record-size "$SIZE" --throughput -1 \
    --producer-props "bootstrap.servers=127.0.0.1:$PORT" "acks=$ACKS" "linger.ms=$LINGER_MS" \
    2>/dev/null | tail -1)
  rate=$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' <<<"$line")
  echo "round $round perf-test ${rate%.*} msg/s"
  perf_rates+=("$rate")
done

out=$("$BENCH" --bootstrap "127.0.0.1:$PORT" --messages "$MESSAGES" --size "$SIZE" \
  --rounds "$ROUNDS" --partitions "$PARTITIONS" --acks "$ACKS" --linger-ms "$LINGER_MS")
grep -E "^round" <<<"$out"
best_perf=$(printf '%s\n' "${perf_rates[@]}" | sort -g | tail -1)
best_native=$(grep -E "^round .* native" <<<"$out" | awk '{print $4}' | sort -g | tail -1)
best_dec=$(grep -E "^round .* dec " <<<"$out" | awk '{print $4}' | sort -g | tail -1)
python3 - "$best_perf" "$best_native" "$best_dec" <<'EOF'
import sys
perf, native, dec = (float(v) for v in sys.argv[1:])
print(f"best: perf-test {perf:,.0f} msg/s, native librdkafka {native:,.0f} msg/s, dec {dec:,.0f} msg/s")
print(f"ratio dec/perf-test {dec / perf:.2f}, dec/native {dec / native:.2f} (target >= 0.9)")
EOF
