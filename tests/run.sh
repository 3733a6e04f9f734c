#!/usr/bin/env bash
# The test command: builds (or reuses) the fixture, proves the fixture node on its own, then
# runs every Rust test — unit tests and the integration tests against the real Docker engine
# and the real Kubernetes node. Nothing is skipped: a missing prerequisite fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

node_image=$(tests/fixture/build.sh | tail -n 1)
kubectl_dir=$(tests/fixture/k8s-binaries.sh 2>/dev/null | tail -n 1)
spark_dist=$(tests/fixture/spark-dist.sh 3.5.9 | tail -n 1)
export MINIK_TEST_NODE_IMAGE="$node_image" MINIK_TEST_KUBECTL="$kubectl_dir/kubectl" MINIK_TEST_SPARK_DIST="$spark_dist"

echo "== fixture smoke test (independent of minik) =="
tests/fixture/smoke.sh "$node_image"

echo "== cargo clippy (warnings are errors) =="
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test =="
# One cluster at a time: two cores, and the dockerd restart test must run alone.
cargo test --locked -- --test-threads=1
