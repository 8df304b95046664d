#!/usr/bin/env bash
# README's test command: installs what the tests need and is missing (by package name: pip,
# npm, apt), then runs `cargo test --release --locked` with any arguments given (for example
# `scripts/test.sh --test it views::`). Set MEDALLION_SKIP_INSTALL=1 to only run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "scripts/test.sh: $*" >&2; }
# apt needs root; use sudo where it is there and we are not root.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
pip_install() {
  say "installing $* (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "$@" \
    || python3 -m pip install --quiet --disable-pip-version-check --user "$@"
}

if [ "${MEDALLION_SKIP_INSTALL:-0}" != 1 ]; then
  # The oracle tests run the shared Python tools (numpy, PyYAML); the pipeline-file tests check
  # files against docs/pipeline.schema.json with jsonschema.
  if ! python3 -c 'import numpy, yaml, jsonschema' 2>/dev/null; then
    pip_install numpy pyyaml jsonschema \
      || { as_root apt-get update -qq && as_root apt-get install -y -qq python3-numpy python3-yaml python3-jsonschema; }
  fi
  # The interoperability tests drive `medallion emulator` with Microsoft's Python SDK.
  if ! python3 -c 'import azure.eventhub' 2>/dev/null; then
    pip_install azure-eventhub
  fi
  # The cloud-storage tests run Azurite (npm; 3.35.0 is the last release for Node 20) and moto's
  # S3 server, create the container / bucket with Microsoft's and AWS's Python SDKs, and read the
  # tables back with the Python deltalake reader.
  if ! command -v azurite-blob >/dev/null 2>&1; then
    say "installing azurite@3.35.0 (npm)"
    as_root npm install --global --no-fund --no-audit --loglevel=error azurite@3.35.0
  fi
  if ! command -v moto_server >/dev/null 2>&1 \
     || ! python3 -c 'import deltalake, pyarrow, azure.storage.blob, boto3' 2>/dev/null; then
    pip_install 'moto[server]' 'deltalake[pyarrow]' azure-storage-blob boto3
  fi
  # The DQX parity test runs Databricks Labs DQX itself (0.17.0, on PySpark, with the machine's
  # Java 17) beside `medallion check`.
  if ! python3 -c 'import databricks.labs.dqx, pyspark, pandas' 2>/dev/null; then
    pip_install 'databricks-labs-dqx==0.17.0' pyspark pandas
  fi
  # The monitoring tests run promtool on monitoring/ and scrape a running pipeline with
  # Prometheus (Debian's package has both; if it starts a service, that one is on its own port).
  if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    say "installing prometheus (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus
  fi
fi

exec cargo test --release --locked "$@"
