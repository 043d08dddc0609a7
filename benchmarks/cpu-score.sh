#!/usr/bin/env bash
# CPU scoring benchmark: median seconds per architecture for wrcor alone and for the
# published vote set, batch 64, 20 random NAS-Bench-201 architectures (C=16, N=5), 2 threads.
# Every set first scores the architectures once untimed (JIT and scratch memory warm up).
# Usage: benchmarks/cpu-score.sh [CIFAR-10 binary file] [extra 'wrcor bench' options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-$root/../shared/data/cifar10-train-0.bin}"
shift || true
args=(bench --archs 20 --batch 64 --threads 2 --seed 0 --sets 'wrcor;synflow,jacob_cor,wrcor')
[ -f "$data" ] && args+=(--data "$data")
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
exec "$root/bin/wrcor" "${args[@]}" "$@" 2>/dev/null
