#!/usr/bin/env bash
# JMH benchmarks of the backends: each kernel family and one whole architecture, CPU
# (OpenBLAS, 2 threads) against OpenCL (PoCL on a CPU machine). Installs the engine into the local
# Maven repository, builds benchmarks/target/benchmarks.jar, runs it; extra arguments go to JMH.
#   benchmarks/jmh.sh                      # everything, short settings
#   benchmarks/jmh.sh 'conv3x3Forward'     # one benchmark
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jdk=$(bash "$root/bin/wrcor" --print-jdk)
opts=$(bash "$root/bin/wrcor" --print-maven-opts)
export JAVA_HOME="$jdk" MAVEN_OPTS="$opts"
(cd "$root" && mvn -q -B -DskipTests install)
# clean: packaging over an earlier shaded jar keeps the engine classes it already holds (the shade
# plugin merges that jar with the new engine jar, the first copy of a class winning)
(cd "$root/benchmarks" && mvn -q -B clean package)
flags=(--enable-native-access=ALL-UNNAMED)
[ "$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)" -ge 23 ] \
  && flags+=(--sun-misc-unsafe-memory-access=allow)
exec "$jdk/bin/java" "${flags[@]}" -jar "$root/benchmarks/target/benchmarks.jar" -f 1 -wi 2 -w 2s -i 3 -r 3s \
  -jvmArgsAppend "${flags[*]}" "$@"
