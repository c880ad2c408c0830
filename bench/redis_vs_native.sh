#!/usr/bin/env bash
# Is dec's Redis producer the bottleneck? Runs redis-benchmark's XADD and dec's producer path
# with the same clients, pipeline depth, message count and size against one private
# redis-server, and prints both rates and their ratio (dec / native; the target is >= 0.8).
#
#   bench/redis_vs_native.sh            (after building redis_producer_bench)
#   BUILD_DIR=build-redis ROUNDS=5 MODE=direct bench/redis_vs_native.sh
#
# The tools run alternately for ROUNDS rounds; on a shared machine single runs are noisy, so the
# verdict uses the median of the per-round ratios (each pair ran under similar conditions), and
# the clients' CPU time per message is shown too, as it does not depend on the machine's load.
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
TIMEFORMAT='%U %S'  # bash's `time`: the client's user and system CPU seconds
ratios=()
best_native=0
best_dec=0
cpu_native=()
cpu_dec=()
for round in $(seq "$ROUNDS"); do
  # -q prints progress lines ending in \r and the result as "XADD ...: N requests per second".
  { time redis-benchmark -p "$PORT" -c "$CLIENTS" -P "$PIPELINE" -n "$MESSAGES" -q \
      XADD s '*' f "$PAYLOAD" >"$DATA_DIR/native.out" 2>&1; } 2>"$DATA_DIR/native.cpu"
  native=$(tr '\r' '\n' <"$DATA_DIR/native.out" | grep 'requests per second' | tail -1 |
             sed -E 's/.*: ([0-9.]+) requests per second.*/\1/')
  redis-cli -p "$PORT" del s >/dev/null
  { time "$BENCH" --port "$PORT" --messages "$MESSAGES" --producers "$CLIENTS" \
      --pipeline "$PIPELINE" --size "$SIZE" --mode "$MODE" >"$DATA_DIR/dec.out"; } \
      2>"$DATA_DIR/dec.cpu"
  dec=$(sed -nE 's/^dec_msgs_per_s=([0-9.]+)$/\1/p' "$DATA_DIR/dec.out")
  if [[ -z "$native" || -z "$dec" ]]; then
    echo "round $round: a run failed" >&2
    cat "$DATA_DIR/native.out" "$DATA_DIR/dec.out" "$DATA_DIR/dec.cpu" >&2
    exit 1
  fi
  # Client CPU per message does not depend on what else the machine is doing.
  cpu_native+=("$(awk -v m="$MESSAGES" '{ print ($1 + $2) * 1e6 / m }' "$DATA_DIR/native.cpu")")
  cpu_dec+=("$(awk -v m="$MESSAGES" 'NF == 2 { v = ($1 + $2) * 1e6 / m } END { print v }' \
    "$DATA_DIR/dec.cpu")")
  ratios+=("$(awk -v d="$dec" -v n="$native" 'BEGIN { print d / n }')")
  printf 'round %d: redis-benchmark %.0f msg/s, dec (%s) %.0f msg/s, ratio %.2f\n' \
    "$round" "$native" "$MODE" "$dec" "${ratios[-1]}"
  best_native=$(awk -v a="$best_native" -v b="$native" 'BEGIN { print (b > a) ? b : a }')
  best_dec=$(awk -v a="$best_dec" -v b="$dec" 'BEGIN { print (b > a) ? b : a }')
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf 'XADD %s x %dB, %d clients, pipeline %d, %d rounds (mode %s)\n' \
  "$MESSAGES" "$SIZE" "$CLIENTS" "$PIPELINE" "$ROUNDS" "$MODE"
printf 'best:   redis-benchmark %.0f msg/s, dec %.0f msg/s\n' "$best_native" "$best_dec"
printf 'client CPU per message (median): redis-benchmark %.2f us, dec %.2f us\n' \
  "$(median "${cpu_native[@]}")" "$(median "${cpu_dec[@]}")"
awk -v r="$(median "${ratios[@]}")" -v b="$(awk -v d="$best_dec" -v n="$best_native" 'BEGIN { print d / n }')" \
  'BEGIN { printf "ratio dec/native: median of rounds %.2f, best vs best %.2f (target >= 0.80)%s\n", r, b, (r < 0.8 ? "  BELOW TARGET" : "") }'
