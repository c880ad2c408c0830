# Sourced by the bench/*_vs_*.sh scripts: runs the product's own tool and dec alternately for
# ROUNDS rounds against the same broker and prints both rates, the client CPU time per message
# (user + system of the tool's whole process, from bash's `time`), and the median of the
# per-round ratios dec / native — on a shared machine single runs are noisy, and each pair of a
# round ran under similar conditions. The caller defines:
#   run_native  runs the product's tool; prints a line "rate=<acknowledged msg/s>"
#   run_dec     runs bench/engine_bench (prints "rate=… cpu_us=…")
# and sets NATIVE_NAME, MESSAGES, ROUNDS, WHAT (a one-line description of the workload).

median() {
  printf '%s\n' "$@" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

compare_rounds() {
  local out=$1 round native dec
  local ratios=() cpu_native=() cpu_dec=()
  TIMEFORMAT='%U %S'
  for round in $(seq "$ROUNDS"); do
    { time run_native >"$out/native.out" 2>&1; } 2>"$out/native.cpu"
    { time run_dec >"$out/dec.out" 2>&1; } 2>"$out/dec.cpu"
    native=$(sed -nE 's/^rate=([0-9.]+).*/\1/p' "$out/native.out" | tail -1)
    dec=$(sed -nE 's/^rate=([0-9.]+).*/\1/p' "$out/dec.out" | tail -1)
    if [[ -z "$native" || -z "$dec" ]]; then
      echo "round $round: a run failed" >&2
      cat "$out/native.out" "$out/dec.out" >&2
      return 1
    fi
    cpu_native+=("$(awk -v m="$MESSAGES" 'NF == 2 { v = ($1 + $2) * 1e6 / m } END { print v }' "$out/native.cpu")")
    cpu_dec+=("$(awk -v m="$MESSAGES" 'NF == 2 { v = ($1 + $2) * 1e6 / m } END { print v }' "$out/dec.cpu")")
    ratios+=("$(awk -v d="$dec" -v n="$native" 'BEGIN { print d / n }')")
    printf 'round %d: %s %.0f msg/s, dec %.0f msg/s, ratio %.2f\n' \
      "$round" "$NATIVE_NAME" "$native" "$dec" "${ratios[-1]}"
  done
  printf '%s, %d rounds\n' "$WHAT" "$ROUNDS"
  printf 'client CPU per message (median): %s %.2f us, dec %.2f us\n' \
    "$NATIVE_NAME" "$(median "${cpu_native[@]}")" "$(median "${cpu_dec[@]}")"
  awk -v r="$(median "${ratios[@]}")" 'BEGIN {
    printf "ratio dec/native (median of rounds): %.2f (target >= 0.9, goal >= 1.0)%s\n", r,
      (r < 0.9 ? "  BELOW TARGET" : "") }'
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits up to 30 s for 127.0.0.1:$1 to accept connections while process $2 lives.
wait_port() {
  local port=$1 pid=$2
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_process() {
  local pid=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
