#!/usr/bin/env bash
# A real standalone Spark cluster on this machine (a master and two workers, each a JVM of its own,
# started from the Spark jars that the wrcor-spark module fetched), and the score job on it:
#
#   benchmarks/spark-cluster.sh [scaling] [faults] [gpus]     (default: all three)
#
#   scaling  200 NAS-Bench-201 architectures (CIFAR-10 batch of 64, the default proxies) scored by
#            the plain command with one thread, then on the cluster with one and with two
#            single-core executors; prints wall seconds, architectures per second, the speed-up of
#            two executors over one and the overhead of one executor against the command
#   faults   kill -9 of one executor mid-job (the job completes, every architecture stored once),
#            kill -9 of the driver mid-job (a rerun computes only what is missing)
#   gpus     workers that announce fake GPUs through discovery scripts (addresses 0 and 1): each
#            task is given one, and the worker opens CUDA on that address (no GPU here: the job
#            stops with the address named)
#   submit   the README's spark-submit line, as written, against the cluster (Spark's own launcher
#            through benchmarks/spark-submit.sh: the engine's jars reach the executors by --jars
#            only), and the same job by bin/wrcor --spark: the same rows
#
# Works in a temporary folder (kept when WRCOR_KEEP=1); stops the cluster on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jdk=$(bash "$root/bin/wrcor" --print-jdk)
shared="${WRCOR_SHARED:-$root/../shared}"
data="$shared/data/cifar10-train-0.bin"
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(scaling faults gpus submit)

# the engine and the Spark module, built as bin/wrcor builds them
bash "$root/bin/wrcor" score --arch '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|' --proxies params --spark 'local[1]' >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "CoarseGrainedExecutorBackend.*$work" 2>/dev/null || true
  [ "${WRCOR_KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# a SPARK_HOME for the workers: the jars, and the RELEASE file that tells the launcher library so
home="$work/spark-home"
mkdir -p "$home/jars"
ln -s "$root"/spark/target/spark-lib/*.jar "$home/jars/"
touch "$home/RELEASE"
export SPARK_HOME="$home" SPARK_SCALA_VERSION=2.13 SPARK_LOCAL_IP=127.0.0.1 JAVA_HOME="$jdk"
mapfile -t jvm < <(grep -v '^\s*$' "$root/spark/jvm-options")
port=$((20000 + RANDOM % 20000))
master="spark://127.0.0.1:$port"

"$jdk/bin/java" "${jvm[@]}" -cp "$home/jars/*" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port 0 \
  >"$work/master.log" 2>&1 &
pids+=($!)
for w in 1 2; do
  printf '#!/bin/sh\necho '"'"'{"name": "gpu", "addresses": ["%d"]}'"'"'\n' $((w - 1)) >"$work/gpu$w.sh"
  chmod +x "$work/gpu$w.sh"
  "$jdk/bin/java" "${jvm[@]}" -cp "$home/jars/*" -Dspark.worker.resource.gpu.amount=1 -Dspark.worker.resource.gpu.discoveryScript="$work/gpu$w.sh" \
    org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 --memory 8g --work-dir "$work/worker$w" --webui-port 0 "$master" \
    >"$work/worker$w.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 60); do
  [ "$(grep -c 'Registering worker' "$work/master.log" 2>/dev/null || true)" -ge 2 ] && break
  sleep 1
done
grep -q 'Registering worker' "$work/master.log" || { echo "spark-cluster: the workers did not register" >&2; tail "$work"/*.log >&2; exit 1; }
echo "# cluster: $master, 2 workers of 1 core (separate JVMs), Spark $(ls "$home/jars" | sed -n 's/^spark-core_2.13-\(.*\)\.jar$/\1/p')"
echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"

# the engine's jars on every executor's classpath (all on this machine; on a real cluster: spark-submit --jars)
cluster_conf=(--spark-conf "spark.executor.extraClassPath=$root/target/wrcor.jar:$root/target/lib/*:$root/spark/target/wrcor-spark.jar"
  --spark-conf "spark.executor.extraJavaOptions=--enable-native-access=ALL-UNNAMED" --spark-conf spark.executor.memory=6g)

count() { local n; n=$(grep -c '"arch"' "$1" 2>/dev/null || true); echo "${n:-0}"; }
distinct() { local n; n=$(sed -n 's/^{"arch": "\([^"]*\)".*/\1/p' "$1" 2>/dev/null | sort -u | wc -l); echo "${n:-0}"; }

for part in "${parts[@]}"; do
  case "$part" in
  scaling)
    bash "$root/bin/wrcor" score --sample 200 --seed 11 --proxies params --quiet 2>/dev/null | sed -n 's/^{"arch": "\([^"]*\)".*/\1/p' >"$work/a200.txt"
    common=(score --arch-file "$work/a200.txt" --data "$data" --batch 64 --quiet)
    t0=$(date +%s.%N)
    bash "$root/bin/wrcor" "${common[@]}" --threads 1 --out "$work/cli.jsonl" >/dev/null
    t1=$(date +%s.%N)
    bash "$root/bin/wrcor" "${common[@]}" --spark "$master" "${cluster_conf[@]}" --spark-conf spark.cores.max=1 --out "$work/one.jsonl" >/dev/null
    t2=$(date +%s.%N)
    bash "$root/bin/wrcor" "${common[@]}" --spark "$master" "${cluster_conf[@]}" --spark-conf spark.cores.max=2 --out "$work/two.jsonl" >/dev/null
    t3=$(date +%s.%N)
    python3 - "$work" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, sys
w, t = sys.argv[1], [float(x) for x in sys.argv[2:]]
rows = {k: {json.loads(l)["arch"]: json.loads(l)["scores"] for l in open(f"{w}/{k}.jsonl")} for k in ("cli", "one", "two")}
same = all(rows["cli"] == rows[k] for k in ("one", "two"))
cli, one, two = t[1] - t[0], t[2] - t[1], t[3] - t[2]
n = len(rows["cli"])
print(f"scaling: {n} architectures; the same scores to the bit in all three stores: {same}")
print(f"  command, 1 thread        {cli:7.1f} s   {n / cli:5.2f} arch/s")
print(f"  Spark, 1 executor x 1    {one:7.1f} s   {n / one:5.2f} arch/s   overhead against the command {100 * (one / cli - 1):+.1f}%")
print(f"  Spark, 2 executors x 1   {two:7.1f} s   {n / two:5.2f} arch/s   speed-up over 1 executor {one / two:.2f}x")
PY
    ;;
  faults)
    bash "$root/bin/wrcor" score --sample 60 --seed 12 --proxies params --quiet 2>/dev/null | sed -n 's/^{"arch": "\([^"]*\)".*/\1/p' >"$work/a60.txt"
    common=(score --arch-file "$work/a60.txt" --data "$data" --batch 32 --quiet --archs-per-task 2)
    # an executor killed mid-job
    bash "$root/bin/wrcor" "${common[@]}" --spark "$master" "${cluster_conf[@]}" --out "$work/exec.jsonl" >/dev/null 2>"$work/exec.err" &
    job=$!
    while [ "$(count "$work/exec.jsonl")" -lt 10 ] && kill -0 $job 2>/dev/null; do sleep 0.5; done
    victim=$(pgrep -f "CoarseGrainedExecutorBackend" | head -1 || true)
    at=$(count "$work/exec.jsonl")
    [ -n "$victim" ] && kill -9 "$victim"
    rc=0; wait $job || rc=$?
    echo "faults: executor $victim killed (kill -9) with $at of 60 rows stored; the job exited $rc with $(count "$work/exec.jsonl") rows, $(distinct "$work/exec.jsonl") distinct"
    grep '^wrcor: task' "$work/exec.err" | sed 's/^/  /' | head -5 || true
    # the driver killed mid-job, then run again
    bash "$root/bin/wrcor" "${common[@]}" --spark "$master" "${cluster_conf[@]}" --out "$work/driver.jsonl" >/dev/null 2>"$work/driver.err" &
    job=$!
    while [ "$(count "$work/driver.jsonl")" -lt 10 ] && kill -0 $job 2>/dev/null; do sleep 0.5; done
    pkill -9 -f "io.wrcor.spark.SparkMain.*driver.jsonl" || true
    wait $job 2>/dev/null || true
    pkill -f "CoarseGrainedExecutorBackend" 2>/dev/null || true
    at=$(count "$work/driver.jsonl")
    bash "$root/bin/wrcor" "${common[@]}" --spark "$master" "${cluster_conf[@]}" --out "$work/driver.jsonl" >/dev/null 2>"$work/rerun.err"
    echo "faults: driver killed (kill -9) with $at rows stored; the rerun said: $(grep -o 'resuming: [0-9]* of [0-9]*' "$work/rerun.err" || echo nothing);" \
      "now $(count "$work/driver.jsonl") rows, $(distinct "$work/driver.jsonl") distinct"
    ;;
  gpus)
    set +e
    bash "$root/bin/wrcor" score --sample 4 --seed 13 --batch 8 --quiet --archs-per-task 1 --spark "$master" "${cluster_conf[@]}" \
      --spark-conf spark.executor.resource.gpu.amount=1 --spark-conf spark.task.resource.gpu.amount=1 --spark-conf spark.task.maxFailures=2 \
      --spark-conf spark.scheduler.minRegisteredResourcesRatio=1.0 --spark-conf spark.scheduler.maxRegisteredResourcesWaitingTime=60s \
      --out "$work/gpu.jsonl" >/dev/null 2>"$work/gpu.err"
    rc=$?
    set -e
    echo "gpus: exit $rc; $(grep -c '^wrcor: task' "$work/gpu.err") failed task lines, addresses named: $(grep -o 'address [0-9]*' "$work/gpu.err" | sort -u | tr '\n' ' ')"
    tail -1 "$work/gpu.err" | sed 's/^/  /'
    ;;
  submit)
    # the README's line with this cluster's master, 20 architectures, and a store of its own
    set +e
    (cd "$root" && "$root/benchmarks/spark-submit.sh" --master "$master" --class io.wrcor.spark.SparkMain \
      --jars target/wrcor.jar,$(ls target/lib/*.jar | paste -sd,) \
      --driver-java-options --enable-native-access=ALL-UNNAMED \
      --conf spark.executor.extraJavaOptions=--enable-native-access=ALL-UNNAMED \
      spark/target/wrcor-spark.jar score --space nb201 --sample 20 --seed 14 --data "$data" --batch 16 --out "$work/submit.jsonl") \
      >"$work/submit.out" 2>"$work/submit.err"
    rc=$?
    set -e
    bash "$root/bin/wrcor" score --space nb201 --sample 20 --seed 14 --data "$data" --batch 16 --quiet --spark "$master" "${cluster_conf[@]}" \
      --out "$work/wrcor.jsonl" >/dev/null 2>"$work/wrcor.err"
    same=$(python3 -c 'import json,sys; r=[{json.loads(l)["arch"]: (json.loads(l)["run"], json.loads(l)["scores"]) for l in open(f)} for f in sys.argv[1:]]; print(len(r[0]) == 20 and r[0] == r[1])' \
      "$work/submit.jsonl" "$work/wrcor.jsonl" 2>/dev/null || echo False)
    echo "submit: spark-submit exited $rc with $(count "$work/submit.jsonl") rows; its executors fetched $(grep -c 'Fetching spark://.*\.jar' "$work"/worker*/app-*/*/stderr 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}') jars from the driver; the same rows as bin/wrcor --spark: $same"
    [ $rc -eq 0 ] || tail -5 "$work/submit.err" | sed 's/^/  /'
    ;;
  *) echo "spark-cluster: unknown part '$part' (scaling, faults, gpus, submit)" >&2; exit 2 ;;
  esac
done
