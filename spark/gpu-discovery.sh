#!/usr/bin/env bash
# Spark's GPU discovery script for wrcor's executors and workers: prints the CUDA devices this machine
# has, as Spark expects ({"name": "gpu", "addresses": ["0", "1", ...]}); the addresses are CUDA device
# indices, which is what a wrcor task opens. Point spark.worker.resource.gpu.discoveryScript (standalone)
# or spark.executor.resource.gpu.discoveryScript (YARN, Kubernetes) at it. No GPU (or no nvidia-smi):
# an empty list, and Spark schedules no GPU task here.
set -euo pipefail
ids=""
if command -v nvidia-smi >/dev/null 2>&1; then
  ids=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | tr -d ' ' | grep -E '^[0-9]+$' | sed 's/.*/"&"/' | paste -sd, - || true)
fi
echo "{\"name\": \"gpu\", \"addresses\": [${ids}]}"
