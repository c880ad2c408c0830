#!/usr/bin/env bash
# Is dec's MQTT producer the bottleneck? Against one private mosquitto on loopback, with the same
# message count and size, QoS, in-flight window and connections: a bare libmosquitto loop
# (bench/mqtt_native_bench; MQTT has no standard load tool) and dec's engine over its MQTT driver
# (bench/engine_bench). Prints both rates, client CPU per message and the ratio dec / native.
#
#   bench/mqtt_vs_native.sh
#   QOS=0 INFLIGHT=100 MESSAGES=200000 SIZE=1024 ROUNDS=5 BUILD_DIR=build bench/mqtt_vs_native.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
MESSAGES=${MESSAGES:-100000}
SIZE=${SIZE:-100}
QOS=${QOS:-1}
INFLIGHT=${INFLIGHT:-100}
CLIENTS=${CLIENTS:-1}
ROUNDS=${ROUNDS:-3}
source "$ROOT/bench/compare.sh"
for tool in mosquitto "$BUILD_DIR/bench/mqtt_native_bench" "$BUILD_DIR/bench/engine_bench"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (scripts/setup, then build)" >&2; exit 1; }
done

DIR=$(mktemp -d /tmp/dec-mqtt-bench-XXXXXX)
PID=""
trap 'stop_process "$PID"; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM
PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\nmax_queued_messages 0\nset_tcp_nodelay true\n' \
  "$PORT" >"$DIR/mosquitto.conf"
mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
PID=$!
wait_port "$PORT" "$PID" || { cat "$DIR/mosquitto.log" >&2; exit 1; }

run_native() {
  "$BUILD_DIR/bench/mqtt_native_bench" --port "$PORT" --messages "$MESSAGES" --size "$SIZE" \
    --qos "$QOS" --inflight "$INFLIGHT" --producers "$CLIENTS"
}
run_dec() {
  "$BUILD_DIR/bench/engine_bench" --driver mqtt --address "127.0.0.1:$PORT" \
    --config "qos=$QOS" --config "max_inflight=$INFLIGHT" --messages "$MESSAGES" \
    --size "$SIZE" --producers "$CLIENTS"
}
NATIVE_NAME=libmosquitto
WHAT="MQTT QoS $QOS: $MESSAGES x ${SIZE}B, $CLIENTS connection(s), $INFLIGHT in flight"
compare_rounds "$DIR"
