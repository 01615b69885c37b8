#!/usr/bin/env bash
# Osprey's Winograd kernel (native/cpu/winograd.c) alone on the 3x3 layers of the tutorial CNN, ResNet-20 and
# ResNet-18, with 2x2 and 4x4 tiles: ms per call, direct-equivalent GFLOP/s (the multiply-adds a direct convolution
# does, over the time) and the worst error against a double-precision direct convolution, relative to the largest
# output; then the filter gradient of training (batch 128; ResNet-18 32), its error against a double-precision sum,
# relative to the largest element; then the kernel transforms a training step runs for each layer (forward and
# backward-data), in microseconds; then both backward directions of the 'same'-padded layers in one pass against the
# two passes, over enough buffers that each call finds them out of the cache, as in a model. Compare the GFLOP/s
# with oneDNN's on the same shapes in benchmarks/results/op-profile-*.md. Needs gcc and a JDK's jni.h. Writes
# benchmarks/results/winograd-layers-<UTC time>.md.
# Usage: benchmarks/run-winograd-layers.sh [seconds-per-figure=2] [threads=2]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-2}"
threads="${2:-2}"
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ && "$threads" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [seconds-per-figure=2] [threads=2]" >&2; exit 2; }
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
# with the kernel's AVX-512VL copy, which the library runs on processors that have those instructions
copy=(-DOSPREY_WINOGRAD_HAS_AVX512_COPY "$root/native/cpu/winograd_avx512.c")
gcc -O3 -std=gnu11 -fopenmp -I"$java_home/include" -I"$java_home/include/linux" -o "$bin/layer_bench" \
  "$root/benchmarks/kernels/layer_bench.c" "$root/native/cpu/winograd.c" "${copy[@]}" "$root/native/cpu/op_chain.c" -lm
gcc -O3 -std=gnu11 -fopenmp -I"$java_home/include" -I"$java_home/include/linux" -o "$bin/filter_bench" \
  "$root/benchmarks/kernels/filter_bench.c" "$root/native/cpu/winograd.c" "${copy[@]}" "$root/native/cpu/op_chain.c" \
  -lm
gcc -O3 -std=gnu11 -fopenmp -I"$java_home/include" -I"$java_home/include/linux" -o "$bin/prepare_bench" \
  "$root/benchmarks/kernels/prepare_bench.c" "$root/native/cpu/winograd.c" "${copy[@]}" "$root/native/cpu/op_chain.c" \
  -lm
gcc -O3 -std=gnu11 -fopenmp -I"$java_home/include" -I"$java_home/include/linux" -o "$bin/backward_bench" \
  "$root/benchmarks/kernels/backward_bench.c" "$root/native/cpu/winograd.c" "${copy[@]}" "$root/native/cpu/op_chain.c" \
  -lm
# name, batch, h, w, c, k, pad
layers=(
  "tutorial conv2|256 13 13 32 64 0"
  "tutorial conv3|256 5 5 64 64 0"
  "ResNet-20 stage 1|256 32 32 16 16 1"
  "ResNet-20 stage 2|256 16 16 32 32 1"
  "ResNet-20 stage 3|256 8 8 64 64 1"
  "ResNet-18 224 stage 1|32 56 56 64 64 1"
  "ResNet-18 224 stage 2|32 28 28 128 128 1"
  "ResNet-18 224 stage 3|32 14 14 256 256 1"
  "ResNet-18 224 stage 4|32 7 7 512 512 1"
)
# "ms | GFLOP/s | error |" table cells from a harness's RESULT line
cells() {
  local ms gf err
  ms="$(sed -n 's/.*ms=\([^ ]*\).*/\1/p' <<<"$1")"
  gf="$(sed -n 's/.*gflops=\([^ ]*\).*/\1/p' <<<"$1")"
  err="$(sed -n 's/.*max_error=\([^ ]*\).*/\1/p' <<<"$1")"
  echo "$ms | $gf | $err |"
}
mkdir -p "$root/benchmarks/results"
out="$root/benchmarks/results/winograd-layers-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# Osprey's Winograd kernel alone, per layer"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads; commit $(git -C "$root" rev-parse --short HEAD)"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- command: \`benchmarks/run-winograd-layers.sh $seconds $threads\`"
  echo
  echo "| layer | shape (batch, h, w, in, out, pad) | 2x2 tiles ms | GFLOP/s | error | 4x4 tiles ms | GFLOP/s | error |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for layer in "${layers[@]}"; do
    name="${layer%%|*}"; shape="${layer#*|}"
    row="| $name | $shape |"
    for m in 2 4; do
      block=24; [ "$m" = 4 ] && block=12
      # shellcheck disable=SC2086
      row="$row $(cells "$("$bin/layer_bench" $shape "$block" "$threads" "$m" "$seconds")")"
    done
    echo "$row"
  done
  echo
  echo "## The filter gradient (training)"
  echo
  echo "| layer | shape (batch, h, w, in, out, pad) | 2x2 tiles ms | GFLOP/s | error | 4x4 tiles ms | GFLOP/s | error |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for layer in "${layers[@]}"; do
    name="${layer%%|*}"; shape="${layer#*|}"
    read -r batch rest <<<"$shape"
    [ "$batch" = 256 ] && shape="128 $rest" # the training batch
    row="| $name | $shape |"
    for m in 2 4; do
      # shellcheck disable=SC2086
      row="$row $(cells "$("$bin/filter_bench" $shape "$threads" "$m" "$seconds")")"
    done
    echo "$row"
  done
  echo
  echo "## The kernel transforms of a training step (4x4 tiles), microseconds per call"
  echo
  echo "| in x out channels | forward, 1 thread | backward-data, 1 thread | forward, $threads threads |" \
    "backward-data, $threads threads |"
  echo "|---|---:|---:|---:|---:|"
  for channels in "16 16" "32 32" "64 64" "128 128"; do
    row="| ${channels/ / x } |"
    for team in 1 "$threads"; do
      # shellcheck disable=SC2086
      line="$("$bin/prepare_bench" $channels 4 "$team" "$seconds")"
      plain="$(sed -n 's/.*plain_us=\([^ ]*\).*/\1/p' <<<"$line")"
      transposed="$(sed -n 's/.*transposed_us=\([^ ]*\).*/\1/p' <<<"$line")"
      row="$row $plain | $transposed |"
    done
    echo "$row"
  done
  echo
  echo "## Both backward directions in one pass (training, 4x4 tiles), ms per call, 6 rounds interleaved (medians)"
  echo
  echo "| layer | shape (batch, h, w, in, out) | one pass | two passes | one / two, per round (median) | same bits |"
  echo "|---|---|---:|---:|---:|---|"
  for layer in "${layers[@]}"; do
    name="${layer%%|*}"; shape="${layer#*|}"
    read -r batch h w c k pad <<<"$shape"
    [ "$pad" = 1 ] || continue # 'same' layers only: 'valid' ones tile dx and dy differently
    [ "$batch" = 256 ] && batch=128
    # buffer sets: 200 MB or more in all, past the L3 cache
    sets=$(( 200000000 / (4 * batch * h * w * (2 * c + k)) + 1 ))
    line="$("$bin/backward_bench" "$batch" "$h" "$w" "$c" "$k" "$threads" 4 "$sets" 6 "$seconds" || true)"
    one="$(sed -n 's/.*one_pass_ms=\([^ ]*\).*/\1/p' <<<"$line")"
    two="$(sed -n 's/.*two_passes_ms=\([^ ]*\).*/\1/p' <<<"$line")"
    ratio="$(sed -n 's/.*ratio=\([^ ]*\).*/\1/p' <<<"$line")"
    same="$(sed -n 's/.*same_bits=\([^ ]*\).*/\1/p' <<<"$line")"
    if grep -q declined <<<"$line"; then
      echo "| $name | $batch $h $w $c $k | declined: two passes | | | |"
    else
      echo "| $name | $batch $h $w $c $k | $one | $two | $ratio | $([ "$same" = 1 ] && echo yes || echo NO) |"
    fi
  done
} >"$out"
cat "$out"
echo "wrote $out" >&2
