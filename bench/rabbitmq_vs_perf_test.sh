#!/usr/bin/env bash
# Is dec's RabbitMQ producer the bottleneck? Starts one private RabbitMQ node through dec's own
# recipe (`dec apply`, loopback), then with the same message count and size, producers,
# persistence and publisher-confirm window runs RabbitMQ's PerfTest (com.rabbitmq.perf.PerfTest,
# the RabbitMQ team's load tool, from tools/perf-test/lib) and dec's engine over its RabbitMQ
# driver (bench/engine_bench), each publishing into a declared queue nobody reads. Prints both
# rates, client CPU per message (PerfTest's includes its JVM's start-up and JIT) and the ratio.
#
#   bench/rabbitmq_vs_perf_test.sh
#   MESSAGES=200000 SIZE=1024 INFLIGHT=256 PERSISTENT=false ROUNDS=5 bench/rabbitmq_vs_perf_test.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
LIB=$ROOT/tools/perf-test/lib
MESSAGES=${MESSAGES:-100000}
SIZE=${SIZE:-100}
INFLIGHT=${INFLIGHT:-1000}
PERSISTENT=${PERSISTENT:-true}
CLIENTS=${CLIENTS:-1}
ROUNDS=${ROUNDS:-3}
source "$ROOT/bench/compare.sh"
[[ -d "$LIB" ]] || { echo "PerfTest is not installed ($LIB missing): run scripts/setup" >&2; exit 1; }
for tool in java "$BUILD_DIR/dec" "$BUILD_DIR/bench/engine_bench"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/setup, then build)" >&2; exit 1; }
done

DIR=$(mktemp -d /tmp/dec-rabbitmq-bench-XXXXXX)
chmod 755 "$DIR"  # the node runs as user rabbitmq and must reach its data dir below this one
dec_cli() { "$BUILD_DIR/dec" "$@" --data-dir "$DIR/data"; }
RUN_ID=""
cleanup() {
  if [[ -n "$RUN_ID" ]]; then dec_cli destroy "$RUN_ID" >/dev/null 2>&1 || dec_cli reconcile >/dev/null 2>&1 || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cat >"$DIR/spec.yaml" <<SPEC
name: rabbitmq-bench
workload: {message_size: ${SIZE}B, rate: 1k/s, duration: 1s}
systems:
  - name: rabbitmq
    driver: rabbitmq
    deploy: {provider: local, settings: {hosts: "false"}}
SPEC
dec_cli apply "$DIR/spec.yaml" >"$DIR/apply.log" 2>&1 || { cat "$DIR/apply.log" >&2; exit 1; }
STATE=$(ls "$DIR"/data/state/*.json)
RUN_ID=$(basename "$STATE" .json)
RUN_ID=${RUN_ID%.rabbitmq}
ADDRESS=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))
print([r["outputs"]["address"] for r in s["resources"] if r["type"] == "service"][0])' "$STATE")

run_native() {
  local flag=persistent
  [[ "$PERSISTENT" == true ]] || flag=mandatory
  java -cp "$LIB/*" com.rabbitmq.perf.PerfTest --uri "amqp://guest:guest@$ADDRESS" \
    --producers "$CLIENTS" --consumers 0 --size "$SIZE" \
    --pmessages $((MESSAGES / CLIENTS)) --confirm "$INFLIGHT" --flag "$flag" \
    --queue perf-test-bench --auto-delete false --id bench >"$DIR/perf.out" 2>&1 ||
    { cat "$DIR/perf.out"; return 1; }
  cat "$DIR/perf.out"
  # Its summary: "id: bench, sending rate avg: 12345 msg/s" (confirmed publishes).
  local rate
  rate=$(sed -nE 's/.*sending rate avg: ([0-9]+) msg\/s.*/\1/p' "$DIR/perf.out" | tail -1)
  echo "rate=$rate"
}
run_dec() {
  "$BUILD_DIR/bench/engine_bench" --driver rabbitmq --address "$ADDRESS" \
    --config "max_in_flight=$INFLIGHT" --config "persistent=$PERSISTENT" --config confirm=true \
    --messages "$MESSAGES" --size "$SIZE" --producers "$CLIENTS" --group bench
}
NATIVE_NAME=PerfTest
WHAT="RabbitMQ confirms (persistent $PERSISTENT): $MESSAGES x ${SIZE}B, $CLIENTS producer(s), $INFLIGHT unconfirmed at most"
compare_rounds "$DIR"
