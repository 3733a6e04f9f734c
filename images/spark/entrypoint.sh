#!/bin/bash
# minik's Spark entrypoint. Modes:
#   driver ARGS…    spark-submit in client mode inside the pod (cluster-mode driver pods)
#   executor        the Kubernetes executor backend, configured from the SPARK_* variables
#                   Spark sets on executor pods
#   anything else   run as given (spark-submit, pyspark, a shell…), under tini
set -eo pipefail

export SPARK_HOME=${SPARK_HOME:-/opt/spark}
SPARK_CLASSPATH="${SPARK_CLASSPATH:+$SPARK_CLASSPATH:}$SPARK_HOME/jars/*"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Spark passes executor JVM options as SPARK_JAVA_OPT_0, _1, …; keep their order.
java_opts() {
  env | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n | sed 's/^SPARK_JAVA_OPT_[0-9]*=//'
}

case "${1:-}" in
  driver)
    shift
    exec /usr/bin/tini -s -- "$SPARK_HOME/bin/spark-submit" \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}" \
      --deploy-mode client "$@"
    ;;
  executor)
    shift
    mapfile -t opts < <(java_opts)
    exec /usr/bin/tini -s -- "$JAVA" "${opts[@]}" \
      -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" \
      -cp "$SPARK_CLASSPATH${SPARK_DIST_CLASSPATH:+:$SPARK_DIST_CLASSPATH}" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" \
      --executor-id "$SPARK_EXECUTOR_ID" \
      --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" \
      --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" \
      --podName "$SPARK_EXECUTOR_POD_NAME"
    ;;
  *)
    exec /usr/bin/tini -s -- "$@"
    ;;
esac
