#!/usr/bin/env bash
# Builds the native CPU kernels for x86-64: one library with AVX2 and FMA, one for any x86-64 CPU
# (NativeKernels picks by the CPU's flags at run time).
# Usage: build.sh CC OUTPUT_DIR   (the Maven profile 'native-cpu' runs it when a C compiler exists)
set -euo pipefail
cc="$1"; out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
"$cc" -O3 -std=gnu11 -ffp-contract=fast -fPIC -shared -Wno-psabi -mavx2 -mfma "$here/cpu_kernels.c" -o "$out/libwrcor-cpu-avx2.so"
"$cc" -O3 -std=gnu11 -ffp-contract=fast -fPIC -shared -Wno-psabi "$here/cpu_kernels.c" -o "$out/libwrcor-cpu-x86-64.so"
