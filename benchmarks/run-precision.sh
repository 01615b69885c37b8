#!/usr/bin/env bash
# bf16 and int8 inference against fp32 on models trained for real: the tutorial CNN and ResNet-20 (28x28x1), each
# trained on the full Fashion-MNIST training set (EPOCHS epochs, seed 42), then the 10,000 test images predicted in
# fp32, bf16 and int8 (calibrated on 512 training images): accuracy of each, images whose top class differs from
# fp32's, and inference images/s at batch 256 and batch-1 latency, the precisions interleaved over 3 rounds.
# 2 threads. Needs Fashion-MNIST (Debian's dataset-fashion-mnist, or a download: see README); bf16 needs a CPU with
# AVX512_BF16 or AMX, int8 one with AVX2 (a precision the CPU lacks is reported and skipped).
# Writes benchmarks/results/precision-<UTC time>.md.
# Usage: benchmarks/run-precision.sh [EPOCHS=5] [SECONDS per figure=3] [MODELS="tutorial resnet20"]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
epochs="${1:-5}"
seconds="${2:-3}"
models="${3:-tutorial resnet20}"
[[ "$epochs" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || {
  echo "usage: $0 [EPOCHS=5] [SECONDS=3]" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
export OMP_NUM_THREADS=2
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$root/benchmarks/results/precision-$stamp.md"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for model in $models; do
  echo "training and measuring $model ($epochs epochs) ..." >&2
  java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.PrecisionAccuracy "$model" "$epochs" "$seconds" \
    2>/dev/null | tee -a "$log" >&2
done
{
  echo "# bf16 and int8 against fp32 inference on trained models, $stamp"
  echo
  echo "- machine: $(machine_name), $(nproc) cores; OMP_NUM_THREADS=2"
  echo "- $(java -version 2>&1 | head -1)"
  echo "- command: \`benchmarks/run-precision.sh $epochs $seconds\`: each model trained $epochs epochs on the 60,000"
  echo "  Fashion-MNIST training images (seed 42, Adam 1e-3, batch 128), then the 10,000 test images predicted"
  echo
  echo "| model | figure | value |"
  echo "|---|---|---:|"
  sed -n 's/^RESULT osprey \([^ ]*\) \([^ ]*\) \(.*\)$/| \1 | \2 | \3 |/p' "$log"
  echo
  sed -n 's/^INFO \(.*\)$/- \1/p' "$log"
} >"$out"
echo "written: $out" >&2
