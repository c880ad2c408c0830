#!/usr/bin/env bash
# Is dec's Redis producer the bottleneck? Runs redis-benchmark's XADD and dec's producer path
# with the same clients, pipeline depth, message count and size against one private
# redis-server, and prints both rates and their ratio (dec / native; the target is >= 0.8).
#
#   bench/redis_vs_native.sh            (after building redis_producer_bench)
#   BUILD_DIR=build-redis ROUNDS=5 MODE=direct bench/redis_vs_native.sh
#
# Each rate is the best of ROUNDS alternating runs: the machine is shared, and the best run is
# the one least disturbed by other work, for both tools alike.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BENCH=${BENCH:-$BUILD_DIR/bench/redis_producer_bench}
MESSAGES=${MESSAGES:-400000}
CLIENTS=${CLIENTS:-4}
PIPELINE=${PIPELINE:-64}
SIZE=${SIZE:-100}
ROUNDS=${ROUNDS:-3}
MODE=${MODE:-engine}  # engine: through load::Engine, as `dec run`; direct: producers only

for tool in redis-server redis-cli redis-benchmark "$BENCH"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

SERVER_PID=""
DATA_DIR=$(mktemp -d /tmp/dec-redis-bench-XXXXXX)
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # runs the EXIT trap

PORT=$("$BENCH" --free-port)
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DATA_DIR" \
  >"$DATA_DIR/redis.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  [[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == "PONG" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DATA_DIR/redis.log" >&2; exit 1; }
  sleep 0.1
done
[[ "$(redis-cli -p "$PORT" ping 2>/dev/null)" == "PONG" ]] || { echo "redis did not start" >&2; exit 1; }

PAYLOAD=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
best_native=0
best_dec=0
for round in $(seq "$ROUNDS"); do
  # -q prints progress lines ending in \r and the result as "XADD ...: N requests per second".
  native=$(redis-benchmark -p "$PORT" -c "$CLIENTS" -P "$PIPELINE" -n "$MESSAGES" -q \
             XADD s '*' f "$PAYLOAD" | tr '\r' '\n' | grep 'requests per second' | tail -1 |
             sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
  redis-cli -p "$PORT" del s >/dev/null
  dec=$("$BENCH" --port "$PORT" --messages "$MESSAGES" --producers "$CLIENTS" \
          --pipeline "$PIPELINE" --size "$SIZE" --mode "$MODE" | tee /dev/stderr |
          sed -nE 's/^dec_msgs_per_s=([0-9.]+)$/\1/p')
  [[ -n "$native" && -n "$dec" ]] || { echo "round $round: a run failed" >&2; exit 1; }
  printf 'round %d: redis-benchmark %.0f msg/s, dec (%s) %.0f msg/s\n' \
    "$round" "$native" "$MODE" "$dec"
  best_native=$(awk -v a="$best_native" -v b="$native" 'BEGIN { print (b > a) ? b : a }')
  best_dec=$(awk -v a="$best_dec" -v b="$dec" 'BEGIN { print (b > a) ? b : a }')
done

printf 'XADD %s x %dB, %d clients, pipeline %d, best of %d\n' \
  "$MESSAGES" "$SIZE" "$CLIENTS" "$PIPELINE" "$ROUNDS"
printf 'redis-benchmark: %.0f msg/s\n' "$best_native"
printf 'dec (%s):    %.0f msg/s\n' "$MODE" "$best_dec"
awk -v d="$best_dec" -v n="$best_native" \
  'BEGIN { r = d / n; printf "ratio dec/native: %.2f (target >= 0.80)%s\n", r, (r < 0.8 ? "  BELOW TARGET" : "") }'
