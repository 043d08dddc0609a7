#!/usr/bin/env bash
# Compiles the kernel sources to PTX for the CUDA backend: every source, float and double, for the
# compute_80 and compute_90 virtual targets (the driver JIT-compiles PTX for the GPU it runs on).
# Usage: build-ptx.sh NVCC OUTPUT_DIR   (the Maven profile 'cuda-ptx' runs it when nvcc exists)
set -euo pipefail
nvcc="$1"; out="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"
for arch in 80 90; do
  for src in nn correlation gemm; do
    for prec in f32 f64; do
      dbl=0; [ "$prec" = f64 ] && dbl=1
      "$nvcc" -ptx -arch=compute_$arch -DREAL_IS_DOUBLE=$dbl -DHAS_FP64=1 -I"$here" "$here/$src.cu" -o "$out/$src-$prec-compute_$arch.ptx"
    done
  done
done
