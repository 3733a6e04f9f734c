#!/bin/bash
# Graceful executor decommissioning (Kubernetes preStop hook): ask the executor JVM to
# decommission itself with SIGPWR, then wait until it has exited.
set -u
pid=$(pgrep -f KubernetesExecutorBackend | head -n 1)
if [ -z "$pid" ]; then
  echo "decom: no executor process" >&2
  exit 0
fi
echo "decom: asking executor $pid to decommission" >&2
kill -s PWR "$pid"
while kill -0 "$pid" 2>/dev/null; do
  sleep 1
done
echo "decom: executor $pid exited" >&2
