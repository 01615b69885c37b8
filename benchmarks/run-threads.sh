#!/usr/bin/env bash
# Predict from one thread and from 8 (one shared model, and 8 copies), and batch-1 latency before and after another
# thread has predicted: with compute on the CPU backend's own device thread (the default) and without it
# (-Dosprey.cpu.deviceThread=false, every caller driving oneDNN's OpenMP itself), alternating JVMs for ROUNDS
# rounds. Writes benchmarks/results/threads-<time>.md.
# Usage: benchmarks/run-threads.sh [SECONDS per figure, default 4] [ROUNDS, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-4}"
rounds="${2:-3}"
mvn -B -q -o -DskipTests package -pl benchmarks -am >/dev/null 2>&1 || mvn -B -q -DskipTests package -pl benchmarks -am
cp="benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:benchmarks/target/lib/*"
out="benchmarks/results/threads-$(date -u +%Y-%m-%dT%H%MZ).md"
raw="$(mktemp)"
for round in $(seq 1 "$rounds"); do
  for mode in true false; do
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}" java --enable-native-access=ALL-UNNAMED -Dosprey.cpu.deviceThread="$mode" \
      -cp "$cp" dev.osprey.bench.ThreadsBenchmark "$seconds" 2>/dev/null \
      | awk -v m="$mode" -v r="$round" '/^RESULT/ {print r, m, $3, $4}' >> "$raw"
  done
done
{
  echo "# Predict from several threads, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Tutorial CNN, batch 32 for throughput and batch 1 for latency, $(nproc) cores, OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}."
  echo "deviceThread=true: compute runs on the CPU backend's own thread (default); false: on each calling thread."
  echo "Throughput ratios are medians of 5 interleaved windows per JVM (8 threads vs the mean of the 1-thread windows around them)."
  echo
  echo "| round | deviceThread | figure | value |"
  echo "|---|---|---|---|"
  awk '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$raw"
} > "$out"
rm -f "$raw"
cat "$out"
