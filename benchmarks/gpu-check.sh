#!/usr/bin/env bash
# The GPU check, for a GPU server with no Java, no Maven and no network.
#
#   benchmarks/gpu-check.sh bundle   here: builds target/gpu-bundle/ (a jlink runtime, the engine jar with
#                                    its PTX, JCuda, the test classes and JUnit's console launcher, ~57 MB)
#   benchmarks/gpu-check.sh run      there, from the repository root with target/gpu-bundle carried:
#                                    every kernel against the reference on random inputs (CudaBackendTest),
#                                    every fixture on CUDA (FixtureParityTest), then the scoring throughput over
#                                    $ARCHS (2000) NAS-Bench-201 architectures with K in $IN_FLIGHT (1,2,4,8) in
#                                    flight, with transfers and peak device memory; prints a short table last. The fixtures are read from $WRCOR_SHARED
#                                    (default ../shared, else ./shared). WRCOR_KERNEL_SHAPE=tiles runs CUDA without cuBLAS
#                                    (the GEMM shape, im2col and cuBLAS for gradients and Gram matrices, is the default).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$root/target/gpu-bundle"

case "${1:-}" in
bundle)
  jdk=$(bash "$root/bin/wrcor" --print-jdk)
  opts=$(bash "$root/bin/wrcor" --print-maven-opts)
  [ -x /usr/local/cuda/bin/nvcc ] || { echo "gpu-check: nvcc is needed to build the PTX" >&2; exit 2; }
  (cd "$root" && JAVA_HOME="$jdk" MAVEN_OPTS="$opts" mvn -q -B -DskipTests package test-compile \
     dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 -DoutputDirectory=target/gpu-bundle-tools)
  rm -rf "$bundle"
  mkdir -p "$bundle/lib"
  cp "$root/target/wrcor.jar" "$bundle/"
  cp "$root"/target/lib/jcuda*.jar "$bundle/lib/"
  cp "$root"/target/gpu-bundle-tools/junit-platform-console-standalone-*.jar "$bundle/junit-console.jar"
  cp -r "$root/target/test-classes" "$bundle/test-classes"
  "$jdk/bin/jlink" --add-modules java.base,java.logging,java.management,java.net.http,jdk.httpserver,jdk.unsupported --strip-debug --no-man-pages \
    --no-header-files --compress=zip-9 --output "$bundle/jre"
  du -sh "$bundle"
  ;;
run)
  [ -x "$bundle/jre/bin/java" ] || { echo "gpu-check: no bundle at $bundle (run 'gpu-check.sh bundle' where Java and nvcc are)" >&2; exit 2; }
  shared="${WRCOR_SHARED:-$root/../shared}"
  [ -d "$shared/fixtures" ] || shared="$root/shared"
  [ -d "$shared/fixtures" ] || { echo "gpu-check: no fixtures under \$WRCOR_SHARED, ../shared or ./shared" >&2; exit 2; }
  java="$bundle/jre/bin/java"
  flags=(--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)
  cp="$bundle/wrcor.jar:$bundle/lib/*:$bundle/test-classes"
  gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo "unknown GPU")
  echo "== $gpu"
  set +e
  WRCOR_REQUIRE_CUDA=1 "$java" "${flags[@]}" -Dwrcor.shared="$shared" -jar "$bundle/junit-console.jar" execute -cp "$cp" \
    --select-class io.wrcor.backend.CudaBackendTest \
    --select-method 'io.wrcor.proxy.FixtureParityTest#cudaBackendMatchesEveryFixture(java.lang.String)' \
    --details=summary --disable-banner > "$bundle/tests.log" 2>&1
  tests_rc=$?
  "$java" "${flags[@]}" -cp "$cp" io.wrcor.cli.Main bench --backend cuda --archs "${ARCHS:-2000}" --sets wrcor \
    --in-flight "${IN_FLIGHT:-1,2,4,8}" > "$bundle/bench.log" 2>&1
  bench_rc=$?
  set -e
  tail -25 "$bundle/tests.log"
  cat "$bundle/bench.log"
  echo
  echo "| check | result |"
  echo "| --- | --- |"
  echo "| GPU | $gpu |"
  echo "| kernels vs reference + fixtures on CUDA | $( [ $tests_rc = 0 ] && echo passed || echo "FAILED (see target/gpu-bundle/tests.log)") |"
  echo "| tests run / failed | $(sed -n 's/.*\[ *\([0-9]*\) tests successful.*/\1 successful/p' "$bundle/tests.log" | head -1), $(sed -n 's/.*\[ *\([0-9]*\) tests failed.*/\1 failed/p' "$bundle/tests.log" | head -1) |"
  # one row per K: "wrcor  in flight  K:  R arch/s (...), wall W s, median M s/arch in its lane" and its transfers line
  awk '/^backend / { line = $0; sub(/^backend /, "", line); sub(/, batch .*/, "", line); printf "| backend (kernel shape) | %s |\n", line }
       /in flight +[0-9]+:/ { k = $4; sub(":", "", k); rate = $5; med = $0; sub(/.*median /, "", med); sub(/ s\/arch.*/, "", med);
         printf "| wrcor, batch 64, %s in flight | %s arch/s, all 15,625 NAS-Bench-201 cells in %.0f s; %s s per architecture in its lane |\n", k, rate, 15625 / rate, med }
       /per architecture:/ { line = $0; sub(/^ *per architecture: */, "", line); printf "|   transfers and memory | %s |\n", line }' "$bundle/bench.log"
  [ "$bench_rc" = 0 ] || echo "| throughput | FAILED (see target/gpu-bundle/bench.log) |"
  [ $tests_rc = 0 ] && [ $bench_rc = 0 ]
  ;;
*)
  echo "usage: benchmarks/gpu-check.sh bundle|run" >&2
  exit 2
  ;;
esac
