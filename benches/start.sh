#!/usr/bin/env bash
# Benchmark (not a test): how long `minik start` takes on the fixture node image, from nothing
# to a Ready node, and to restart a stopped cluster. Prints one line per run and the medians.
# The yardstick: kind needs 38 s from nothing to Ready on the same node image (2 cores).
# Usage: benches/start.sh [RUNS]   (default 3; builds minik in release mode first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
image=$(tests/fixture/build.sh 2>/dev/null | tail -n 1)
cargo build --release --quiet
minik=target/release/minik
export KUBECONFIG
KUBECONFIG=$(mktemp -d)/config
profile=bench
trap '$minik delete -p $profile >/dev/null 2>&1 || true' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

$minik delete -p $profile >/dev/null 2>&1 || true
create=() restart=()
for i in $(seq 1 "$runs"); do
  c=$(seconds $minik start -p $profile --image "$image")
  $minik stop -p $profile >/dev/null 2>&1
  r=$(seconds $minik start -p $profile)
  $minik delete -p $profile >/dev/null 2>&1
  printf 'run %d: create → Ready %6.1f s   restart → Ready %6.1f s\n' "$i" "$c" "$r"
  create+=("$c") restart+=("$r")
done
printf 'median: create → Ready %6.1f s   restart → Ready %6.1f s   (kind: 38 s to Ready)\n' \
  "$(printf '%s\n' "${create[@]}" | median)" "$(printf '%s\n' "${restart[@]}" | median)"
