#!/usr/bin/env bash
# Benchmark (not a test): `minik start` on the fixture node image, from nothing and as a
# restart of a stopped cluster; for each, when the command returns and when a pod created
# right after it is Running (what users feel). Prints one line per run and the medians.
# Usage: benches/start.sh [RUNS] [MINIK]   (default 3 runs; builds minik in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
image=$(tests/fixture/build.sh 2>/dev/null | tail -n 1)
kubectl="$(tests/fixture/k8s-binaries.sh 2>/dev/null | tail -n 1)/kubectl"
if [ -n "${2:-}" ]; then minik=$2; else cargo build --release --quiet; minik=target/release/minik; fi
export KUBECONFIG
KUBECONFIG=$(mktemp -d)/config
profile=bench
trap '$minik delete -p $profile >/dev/null 2>&1 || true' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# Creates a pod from a preloaded image and waits until it is Running.
pod_running() {
  $kubectl run "$1" --image=minik-fixture/busybox:1.35 --image-pull-policy=IfNotPresent \
    --restart=Never -- sleep 600 >/dev/null
  until [ "$($kubectl get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = Running ]; do
    sleep 0.2
  done
}

$minik delete -p $profile >/dev/null 2>&1 || true
cr=() cp=() rr=() rp=()
for i in $(seq 1 "$runs"); do
  t0=$(now); $minik start -p $profile --image "$image" >/dev/null 2>&1; a=$(since "$t0")
  pod_running first; b=$(since "$t0")
  $kubectl delete pod first --wait=false >/dev/null
  $minik stop -p $profile >/dev/null 2>&1
  t0=$(now); $minik start -p $profile >/dev/null 2>&1; c=$(since "$t0")
  pod_running second; d=$(since "$t0")
  $minik delete -p $profile >/dev/null 2>&1
  printf 'run %d: create → return %5.1f s, pod Running %5.1f s | restart → return %5.1f s, pod Running %5.1f s\n' \
    "$i" "$a" "$b" "$c" "$d"
  cr+=("$a") cp+=("$b") rr+=("$c") rp+=("$d")
done
m() { printf '%s\n' "$@" | median; }
printf 'median: create → return %5.1f s, pod Running %5.1f s | restart → return %5.1f s, pod Running %5.1f s\n' \
  "$(m "${cr[@]}")" "$(m "${cp[@]}")" "$(m "${rr[@]}")" "$(m "${rp[@]}")"
