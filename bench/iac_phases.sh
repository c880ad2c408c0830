#!/usr/bin/env bash
# Plan + apply + destroy time of a 3-node local system with limits, against a 1-node system
# measured the same way in the same run: the ratio shows what applying independent steps side
# by side buys (1.0 = three nodes cost no more than one). Needs root (hosts).
#   BUILD_DIR=build ROUNDS=5 bench/iac_phases.sh
set -euo pipefail
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-5}
DEC="$BUILD_DIR/dec"
[ -x "$DEC" ] || { echo "no $DEC: run scripts/build first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "hosts need root" >&2; exit 1; }
work=$(mktemp -d)
trap '"$DEC" reconcile --data-dir "$work/data" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

spec() {  # nodes
  cat <<YAML
name: iac-bench
workload: {partitions: 6}
systems:
  - name: r$1
    driver: redis
    deploy: {provider: local, nodes: $1, cpus: 0.5, memory: 256MiB, bandwidth: 100Mbit}
YAML
}
spec 1 >"$work/one.yaml"
spec 3 >"$work/three.yaml"

now() { date +%s.%N; }
measure() {  # spec -> "plan apply destroy" seconds
  local t0 t1 t2 t3 run
  t0=$(now)
  "$DEC" plan "$1" --data-dir "$work/data" >/dev/null
  t1=$(now)
  run=$("$DEC" apply "$1" --json --data-dir "$work/data" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["run_id"])')
  t2=$(now)
  "$DEC" destroy "$run" --data-dir "$work/data" >/dev/null 2>&1
  t3=$(now)
  python3 -c "print($t1-$t0, $t2-$t1, $t3-$t2)"
}

declare -a one=() three=()
for ((i = 0; i < ROUNDS; i++)); do
  one+=("$(measure "$work/one.yaml")")
  three+=("$(measure "$work/three.yaml")")
done
python3 - "$ROUNDS" "${one[@]}" "${three[@]}" <<'PY'
import statistics, sys
rounds = int(sys.argv[1])
rows = [list(map(float, r.split())) for r in sys.argv[2:]]
one, three = rows[:rounds], rows[rounds:]
def med(rs, i): return statistics.median(r[i] for r in rs)
print(f"{'phase':8} {'1 node s':>9} {'3 nodes s':>10} {'ratio':>6}")
for i, name in enumerate(["plan", "apply", "destroy"]):
    a, b = med(one, i), med(three, i)
    print(f"{name:8} {a:9.3f} {b:10.3f} {b / a:6.2f}")
total1 = statistics.median(sum(r) for r in one)
total3 = statistics.median(sum(r) for r in three)
print(f"{'total':8} {total1:9.3f} {total3:10.3f} {total3 / total1:6.2f}   (median of {rounds} rounds)")
PY
