#!/usr/bin/env bash
# Data-parallel training, measured where it can be (the CPU) and estimated where it can't (8 GPUs over NVLink).
# Per model: the gradient arena every step all-reduces, the step time on one device and on REPLICAS CPU replicas with
# the same global batch (the CPU replicas share one CPU, so this shows the cost of splitting and summing, not a
# speed-up), and one host all-reduce of the arena. Then, from the arena size and NCCL's published bus bandwidth, the
# all-reduce time on 8 GPUs and the scaling efficiency it allows for a range of per-GPU step times.
# Writes benchmarks/results/data-parallel-<time>.md.
# Usage: benchmarks/run-data-parallel.sh [SECONDS per figure=3] [BATCH=128] [REPLICAS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3}"; batch="${2:-128}"; replicas="${3:-2}"
mvn -B -q -o -DskipTests package -pl benchmarks -am >/dev/null 2>&1 || mvn -B -q -DskipTests package -pl benchmarks -am
cp="benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:benchmarks/target/lib/*"
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.DataParallelStep "$seconds" "$batch" "$replicas" \
  tutorial resnet20 2>/dev/null | grep '^RESULT' >>"$raw"
for m in resnet18 resnet50; do
  java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.DataParallelStep params "$m" 224 2>/dev/null \
    | grep '^RESULT' >>"$raw"
done
# NCCL all-reduce on 8x H100 SXM (NVLink 4, NVSwitch): bus bandwidth 460-480 GB/s at large sizes (nccl-tests
# all_reduce_perf reference figures); 470 GB/s taken here. Small messages are latency-bound: 25 us assumed for 8
# ranks (an assumption, to be measured with nccl-tests on the target machine).
busbw=470e9; latency_us=25; gpus=8
out="benchmarks/results/data-parallel-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# Data-parallel training: measured step split, and the 8-GPU estimate, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), no GPU. Batch $batch (global),"
  echo "SGD with momentum, random data; 3 rounds of ${seconds} s per figure. Command: \`benchmarks/run-data-parallel.sh $seconds $batch $replicas\`."
  echo
  echo "## Measured on the CPU"
  echo
  echo "| model | trainable params | gradient bytes / step | step, 1 device (ms, best) | step, $replicas CPU replicas (ms, best) | host all-reduce, $replicas ranks (ms) |"
  echo "|---|---:|---:|---:|---:|---:|"
  for m in tutorial resnet20; do
    awk -v m="$m" -v r="$replicas" '
      $2 == m && $3 == "trainable_params" {p = $4}
      $2 == m && $3 == "step_ms_1_device" {if (one == "" || $4 < one) one = $4}
      $2 == m && $3 == "step_ms_" r "_cpu_replicas" {if (many == "" || $4 < many) many = $4}
      $2 == m && $3 == "host_allreduce_ms_" r "_ranks" {ar = $4}
      END {printf "| %s | %d | %d | %.2f | %.2f | %.3f |\n", m, p, p * 4, one, many, ar}' "$raw"
  done
  echo
  echo "The CPU replicas share one CPU and one oneDNN device thread, so $replicas replicas run their shards one after"
  echo "the other: the difference to one device is the cost of the split (smaller, less efficient batches) and of the"
  echo "host all-reduce, which the replicas' link threads overlap with backward in buckets."
  echo
  echo "## Estimate for 8 GPUs over NVLink (NCCL ring all-reduce)"
  echo
  echo "Inputs: gradient bytes S from the arena; NCCL bus bandwidth B = 470 GB/s (8x H100 SXM, nccl-tests reference"
  echo "460-480 GB/s at large sizes); latency L = ${latency_us} us per all-reduce (assumed). All-reduce time"
  echo "t = L + S * 2(N-1)/N / B with N = $gpus. Efficiency with no overlap at all: t_step / (t_step + t); with DDP's"
  echo "bucketing most of t hides behind backward, so these are lower bounds."
  echo
  echo "| model | gradient MB | all-reduce on 8 GPUs (us) | efficiency at 1 ms/step | at 5 ms/step | at 20 ms/step | at 100 ms/step |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for m in tutorial resnet20 resnet18 resnet50; do
    awk -v m="$m" -v B="$busbw" -v L="$latency_us" -v N="$gpus" '
      $2 == m && $3 == "trainable_params" {p = $4}
      END {
        S = p * 4; t = L + S * 2 * (N - 1) / N / B * 1e6;
        printf "| %s | %.2f | %.0f |", m, S / 1e6, t;
        split("1000 5000 20000 100000", c, " ");
        for (i = 1; i <= 4; i++) printf " %.1f%% |", 100 * c[i] / (c[i] + t);
        printf "\n"}' "$raw"
  done
  echo
  echo "resnet18 and resnet50 are at 224x224x3 with 1000 classes (parameter counts only; not run here)."
  echo "What is not measured: the per-GPU step time (no GPU was lent to this task) and NCCL itself (the NCCL"
  echo "communicator is not written yet; the CPU communicator stands in)."
  echo
  echo "Raw lines:"
  echo
  echo '```'
  cat "$raw"
  echo '```'
} >"$out"
cat "$out"
