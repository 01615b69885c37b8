#!/usr/bin/env bash
# bf16 mixed-precision training against fp32, side by side in one run: for each model (the tutorial CNN and
# ResNet-20 at 28x28x1), an fp32 copy and a bf16 copy train on the full Fashion-MNIST training set an epoch at a time
# in turn (seed 42, Adam 1e-3, batch 128), giving each epoch's training images/s for both, then both copies' test
# accuracy after the same epochs. 2 threads. Needs Fashion-MNIST (Debian's dataset-fashion-mnist, or a download: see
# README) and a CPU with AVX512_BF16 or AMX; elsewhere the results file says why bf16 did not run.
# Writes benchmarks/results/bf16-training-<UTC time>.md.
# Usage: benchmarks/run-bf16-training.sh [EPOCHS=3] [MODELS="tutorial resnet20"]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
epochs="${1:-3}"
models="${2:-tutorial resnet20}"
[[ "$epochs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [EPOCHS=3] [MODELS=\"tutorial resnet20\"]" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
export OMP_NUM_THREADS=2
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$root/benchmarks/results/bf16-training-$stamp.md"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for model in $models; do
  echo "training $model in fp32 and bf16 ($epochs epochs each) ..." >&2
  java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.MixedPrecisionTraining "$model" "$epochs" \
    2>/dev/null | tee -a "$log" >&2
done
{
  echo "# bf16 mixed-precision training against fp32, $stamp"
  echo
  echo "- machine: $(machine_name), $(nproc) cores; OMP_NUM_THREADS=2;"
  echo "  flags: $(grep -o -w 'avx512_bf16\|amx_bf16\|avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "- $(java -version 2>&1 | head -1)"
  echo "- command: \`benchmarks/run-bf16-training.sh $epochs\`: an fp32 and a bf16 copy of each model trained on the"
  echo "  60,000 Fashion-MNIST training images an epoch at a time in turn (seed 42, Adam 1e-3, batch 128), then the"
  echo "  10,000 test images evaluated"
  echo
  echo "| model | figure | value |"
  echo "|---|---|---:|"
  sed -n 's/^RESULT osprey \([^ ]*\) \([^ ]*\) \(.*\)$/| \1 | \2 | \3 |/p' "$log"
  echo
  sed -n 's/^INFO \(.*\)$/- \1/p' "$log"
} >"$out"
echo "written: $out" >&2
