#!/usr/bin/env bash
# Is dec's NATS JetStream producer the bottleneck? Against one private nats-server (JetStream,
# file storage, one replica) on loopback, with the same message count and size, connections and
# acknowledgements in flight: `nats bench js pub async` (natscli, the NATS project's load tool;
# DEC_SETUP_BENCH=1 scripts/setup installs it into tools/go/bin) and dec's engine over its NATS
# driver (bench/engine_bench). Prints both rates, client CPU per message and the ratio.
#
#   bench/nats_vs_native.sh
#   MESSAGES=500000 SIZE=1024 INFLIGHT=256 CLIENTS=2 ROUNDS=5 bench/nats_vs_native.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
NATS_CLI=${NATS_CLI:-$ROOT/tools/go/bin/nats}
MESSAGES=${MESSAGES:-200000}
SIZE=${SIZE:-100}
INFLIGHT=${INFLIGHT:-500}
CLIENTS=${CLIENTS:-1}
ROUNDS=${ROUNDS:-3}
source "$ROOT/bench/compare.sh"
[[ -x "$NATS_CLI" ]] || { echo "missing: $NATS_CLI (run DEC_SETUP_BENCH=1 scripts/setup)" >&2; exit 1; }
for tool in nats-server "$BUILD_DIR/bench/engine_bench"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/setup, then build)" >&2; exit 1; }
done

DIR=$(mktemp -d /tmp/dec-nats-bench-XXXXXX)
PID=""
trap 'stop_process "$PID"; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM
PORT=$(free_port)
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$DIR/store" >"$DIR/nats.log" 2>&1 &
PID=$!
wait_port "$PORT" "$PID" || { cat "$DIR/nats.log" >&2; exit 1; }

run_native() {
  # Its report: "... stats: 123,456 msgs/sec ~ ..." (aggregated over clients).
  "$NATS_CLI" bench js pub async "bench.native" --server "nats://127.0.0.1:$PORT" --create \
    --purge --storage file --replicas 1 --batch "$INFLIGHT" --msgs "$MESSAGES" --size "$SIZE" \
    --clients "$CLIENTS" --no-progress >"$DIR/natscli.out" 2>&1 || { cat "$DIR/natscli.out"; return 1; }
  cat "$DIR/natscli.out"
  local rate
  rate=$(grep -E 'stats: [0-9,]+ msgs/sec' "$DIR/natscli.out" | tail -1 |
           sed -E 's/.*stats: ([0-9,]+) msgs\/sec.*/\1/' | tr -d ,)
  echo "rate=$rate"
}
run_dec() {
  "$BUILD_DIR/bench/engine_bench" --driver nats --address "127.0.0.1:$PORT" \
    --config "max_in_flight=$INFLIGHT" --config storage=file --config replicas=1 \
    --messages "$MESSAGES" --size "$SIZE" --producers "$CLIENTS"
}
NATIVE_NAME="nats bench"
WHAT="JetStream publish (file, R1): $MESSAGES x ${SIZE}B, $CLIENTS client(s), $INFLIGHT acks in flight"
compare_rounds "$DIR"
