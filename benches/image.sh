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
trap '$minik delete -p imgbench >/dev/null 2>&1 || true; rm -rf "$work"; docker rmi -f bench/spark:minik bench/spark:plain bench/keep:minik >/dev/null 2>&1 || true' EXIT
now() { date +%s.%N; }
# Both builds start cold: the classic builder reuses layers of any image built from the
# same Dockerfile and context, so remove those (minik's own Spark images included).
drop_build_cache() {
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(minik/spark|minik/spark-py|minik-test/spark[^:]*|bench/spark):' \
    | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker image prune -f >/dev/null
}
ratio() { echo "scale=2; $1 / $2" | bc; }

drop_build_cache
t0=$(now)
$minik image build spark --spark-version 3.5.9 --tarball "$tgz" --base-image minik-fixture/jre:17 \
  --tag bench/spark:minik --no-load >/dev/null 2>&1
t_minik=$(echo "$(now) - $t0" | bc)

t0=$(now)
mkdir -p "$work/ctx/spark"
tar -C "$work/ctx/spark" --strip-components=1 -xzf "$tgz"
cp images/spark/Dockerfile images/spark/entrypoint.sh images/spark/decom.sh "$work/ctx/"
t_unpack=$(echo "$(now) - $t0" | bc)
docker tag bench/spark:minik bench/keep:minik   # keep it for the load benchmark
docker rmi bench/spark:minik >/dev/null
drop_build_cache
t0=$(now)
docker build -q --build-arg BASE_IMAGE=minik-fixture/jre:17 -t bench/spark:plain "$work/ctx" >/dev/null 2>&1
t_plain=$(echo "$(now) - $t0" | bc)
printf 'build:  minik image build %.1f s | docker build of the unpacked context %.1f s (unpack %.1f s more)\n' "$t_minik" "$t_plain" "$t_unpack"
printf '        ratio minik / docker build = %s ; minik / (unpack + docker build) = %s\n' \
  "$(ratio "$t_minik" "$t_plain")" "$(ratio "$t_minik" "$(echo "$t_plain + $t_unpack" | bc)")"

$minik start -p imgbench --image "$node_image" >/dev/null 2>&1
t0=$(now)
$minik image load -p imgbench bench/keep:minik >/dev/null 2>&1
t_load=$(echo "$(now) - $t0" | bc)
docker exec minik-imgbench ctr -n k8s.io images rm docker.io/bench/keep:minik >/dev/null
t0=$(now)
docker save bench/keep:minik | docker exec -i minik-imgbench ctr -n k8s.io images import - >/dev/null
t_save=$(echo "$(now) - $t0" | bc)
printf 'load:   minik image load %.1f s | docker save | ctr import %.1f s ; ratio %s\n' "$t_load" "$t_save" "$(ratio "$t_load" "$t_save")"
echo '        (minik imports with --no-unpack: containerd unpacks the layers when a pod first uses them)'
