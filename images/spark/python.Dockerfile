# The PySpark variant, on top of minik's Spark base image: python3 and PySpark's Python
# libraries from the distribution (already under /opt/spark/python).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER root
RUN set -eu; \
    if ! command -v python3 >/dev/null; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    ln -sf "$(ls /opt/spark/python/lib/py4j-*-src.zip | head -n 1)" /opt/spark/python/lib/py4j-src.zip
ENV PYSPARK_PYTHON=python3 \
    PYTHONPATH=/opt/spark/python/lib/pyspark.zip:/opt/spark/python/lib/py4j-src.zip
USER 185
