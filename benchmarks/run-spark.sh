#!/usr/bin/env bash
# Batch inference through Spark: N PNG images (Fashion-MNIST test images, repeated) scored by the tutorial CNN through
# Spark local[THREADS] (binaryFile -> OspreyPredictor -> no-op sink), against one Predictor in one process reading and
# decoding the same files, ROUNDS rounds interleaved, in one JVM. Writes benchmarks/results/spark-<time>.md.
# Usage: benchmarks/run-spark.sh [N=20000] [ROUNDS=3] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"; rounds="${2:-3}"; threads="${3:-2}"
mvn -B -q -o -DskipTests install -pl java/spark -am >/dev/null 2>&1 || mvn -B -q -DskipTests install -pl java/spark -am
cpfile="$(mktemp)"; raw="$(mktemp)"
trap 'rm -f "$cpfile" "$raw"' EXIT
mvn -B -q -o dependency:build-classpath -pl java/spark -Dmdep.includeScope=test -Dmdep.outputFile="$cpfile" >/dev/null
flags="$(sed -n 's:.*<spark.jvm.flags>\(.*\)</spark.jvm.flags>.*:\1:p' java/spark/pom.xml)"
# shellcheck disable=SC2086
java --enable-native-access=ALL-UNNAMED $flags -cp "java/spark/target/test-classes:java/spark/target/classes:$(cat "$cpfile")" \
  dev.osprey.spark.SparkThroughput "$n" "$rounds" "$threads" 2>/dev/null | grep '^RESULT' >"$raw"
out="benchmarks/results/spark-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# Batch inference through Spark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$n PNG files (28x28 grey), tutorial CNN, batches of 256, $(nproc) cores; Spark $(sed -n 's:.*<spark.version>\(.*\)</spark.version>.*:\1:p' java/spark/pom.xml) local[$threads]"
  echo "(binaryFile, OspreyPredictor, no-op sink) against one Predictor in one process (files read and decoded on one"
  echo "thread). $rounds rounds interleaved in one JVM. Command: \`benchmarks/run-spark.sh $n $rounds $threads\`."
  echo
  echo "| round | Spark local[$threads] (images/s) | one Predictor (images/s) | Spark / Predictor |"
  echo "|---|---:|---:|---:|"
  awk '$3 ~ /^spark/ {s[$2] = $5} $3 == "one_predictor" {p[$2] = $5}
       END {for (r in s) printf "| %s | %s | %s | %.2f |\n", r, s[r], p[r], s[r] / p[r]}' "$raw" | sort
} >"$out"
cat "$out"
