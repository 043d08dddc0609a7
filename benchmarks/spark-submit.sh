#!/usr/bin/env bash
# What a Spark distribution's bin/spark-submit does, for a machine that has Spark's jars but not its
# scripts: Spark's launcher library (org.apache.spark.launcher.Main, as bin/spark-class runs it)
# builds the driver's java command from the arguments and SPARK_HOME, and that command is run.
# SPARK_HOME must hold jars/ (Spark's jars) and a RELEASE file; JAVA_HOME the Java to run.
#
#   SPARK_HOME=... JAVA_HOME=... benchmarks/spark-submit.sh --master ... --class ... app.jar args...
set -euo pipefail
: "${SPARK_HOME:?SPARK_HOME must name a folder with the Spark jars in jars/ and a RELEASE file}"
: "${JAVA_HOME:?JAVA_HOME must name the Java to run}"
cmd=()
while IFS= read -r -d "" part; do part="${part#$'\n'}"; [ -n "$part" ] && cmd+=("$part"); done < <("$JAVA_HOME/bin/java" -Xmx128m -cp "$SPARK_HOME/jars/*" \
  org.apache.spark.launcher.Main org.apache.spark.deploy.SparkSubmit "$@")
[ ${#cmd[@]} -gt 0 ] || { echo "spark-submit.sh: Spark's launcher built no command" >&2; exit 1; }
exec "${cmd[@]}"
