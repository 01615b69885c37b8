#!/usr/bin/env bash
# A training recipe against plain Adam, on real data: ResNet-20 on the full Fashion-MNIST (60,000 training images,
# the 10,000 test images for the figure), the same epochs and seed both ways:
#   baseline: --optimizer adam at a fixed learning rate 0.001
#   recipe:   --optimizer adamw (weight decay 0.004, biases and BatchNorm excluded), --lr-schedule cosine (Keras'
#             CosineDecay per step) after --warmup-epochs 1 of linear warm-up, --label-smoothing 0.1
# The two runs go one after the other, 2 threads. Writes benchmarks/results/training-recipe-<UTC time>.md with each
# run's test accuracy and time. Needs Fashion-MNIST (Debian's dataset-fashion-mnist, or the download the CLI makes).
# Usage: benchmarks/run-training-recipe.sh [EPOCHS=5] [MODEL=resnet20]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
epochs="${1:-5}"
model="${2:-resnet20}"
[[ "$epochs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [EPOCHS=5] [MODEL=resnet20]" >&2; exit 2; }
export OMP_NUM_THREADS=2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$root/benchmarks/results/training-recipe-$stamp.md"
common=(train --model "$model" --dataset fashion-mnist --epochs "$epochs" --batch-size 128 --seed 42 --quiet)
declare -A flags=(
  [baseline]="--optimizer adam --learning-rate 0.001"
  [recipe]="--optimizer adamw --learning-rate 0.001 --lr-schedule cosine --warmup-epochs 1 --label-smoothing 0.1"
)
rows=()
for run in baseline recipe; do
  echo "training $model, $run ($epochs epochs) ..." >&2
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$root/osprey" "${common[@]}" ${flags[$run]} -o "$work/$run.osprey" >"$work/$run.log" 2>&1
  seconds=$(( $(date +%s) - start ))
  accuracy="$(sed -n 's/.*Test accuracy: \([0-9.]*\).*/\1/p' "$work/$run.log" | tail -1)"
  echo "$run: test accuracy $accuracy in $seconds s" >&2
  rows+=("| $run | \`${flags[$run]}\` | $accuracy | $seconds |")
done
{
  echo "# Training recipe against plain Adam, $stamp"
  echo
  echo "- machine: $(machine_name), $(nproc) cores; OMP_NUM_THREADS=2"
  echo "- $model on the full Fashion-MNIST, $epochs epochs, batch 128, seed 42; test accuracy on the 10,000 test images"
  echo "- command: \`benchmarks/run-training-recipe.sh $epochs $model\`; each run is \`./osprey ${common[*]} FLAGS\`"
  echo
  echo "| run | flags | test accuracy | seconds |"
  echo "|---|---|---:|---:|"
  printf '%s\n' "${rows[@]}"
} >"$out"
cat "$out"
