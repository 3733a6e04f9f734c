#!/usr/bin/env bash
# Benchmark (not a test), one run each, printed as ratios:
#   1. `minik image build spark` from a cached tarball vs a plain `docker build` of the
#      same context already unpacked on disk (and vs unpack + docker build);
#   2. `minik image load` vs `docker save | docker exec -i NODE ctr -n k8s.io images import -`.
# Uses the fixture (node image, JRE base, the Spark 3.5.9 tarball assembled from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=0
node_image=$(tests/fixture/build.sh 2>/dev/null | tail -n 1)
dist=$(tests/fixture/spark-dist.sh 3.5.9 2>/dev/null | tail -n 1)
tgz="$dist/spark-3.5.9-bin-hadoop3.tgz"
cargo build --release --quiet
minik=target/release/minik
export KUBECONFIG
KUBECONFIG=$(mktemp -d)/config
work=$(mktemp -d)
trap '$minik delete -p imgbench >/dev/null 2>&1 || true; rm -rf "$work"; docker rmi -f bench/spark:minik bench/spark:plain >/dev/null 2>&1 || true' EXIT
now() { date +%s.%N; }
ratio() { echo "scale=2; $1 / $2" | bc; }

docker rmi -f bench/spark:minik bench/spark:plain >/dev/null 2>&1 || true
t0=$(now)
$minik image build spark --spark-version 3.5.9 --tarball "$tgz" --base-image minik-fixture/jre:17 \
  --tag bench/spark:minik --no-load >/dev/null 2>&1
t_minik=$(echo "$(now) - $t0" | bc)

t0=$(now)
mkdir -p "$work/ctx/spark"
tar -C "$work/ctx/spark" --strip-components=1 -xzf "$tgz"
cp images/spark/Dockerfile images/spark/entrypoint.sh images/spark/decom.sh "$work/ctx/"
t_unpack=$(echo "$(now) - $t0" | bc)
t0=$(now)
docker build -q --build-arg BASE_IMAGE=minik-fixture/jre:17 -t bench/spark:plain "$work/ctx" >/dev/null 2>&1
t_plain=$(echo "$(now) - $t0" | bc)
printf 'build:  minik image build %.1f s | docker build of the unpacked context %.1f s (unpack %.1f s more)\n' "$t_minik" "$t_plain" "$t_unpack"
printf '        ratio minik / docker build = %s ; minik / (unpack + docker build) = %s\n' \
  "$(ratio "$t_minik" "$t_plain")" "$(ratio "$t_minik" "$(echo "$t_plain + $t_unpack" | bc)")"

$minik start -p imgbench --image "$node_image" >/dev/null 2>&1
t0=$(now)
$minik image load -p imgbench bench/spark:minik >/dev/null 2>&1
t_load=$(echo "$(now) - $t0" | bc)
docker exec minik-imgbench ctr -n k8s.io images rm docker.io/bench/spark:minik >/dev/null
t0=$(now)
docker save bench/spark:minik | docker exec -i minik-imgbench ctr -n k8s.io images import - >/dev/null
t_save=$(echo "$(now) - $t0" | bc)
printf 'load:   minik image load %.1f s | docker save | ctr import %.1f s ; ratio %s\n' "$t_load" "$t_save" "$(ratio "$t_load" "$t_save")"
