#!/usr/bin/env bash
# Osprey's Winograd kernel (native/cpu/winograd.c) at an earlier revision against the working tree's, alone on the 3x3
# layers of ResNet-20 and the tutorial CNN at batch 1 and 256, 4x4 tiles, blocks as the Java side picks them, with a
# bias and without activation or residual (the harness's case; training's forward passes are such): the two
# builds of benchmarks/kernels/layer_bench.c run in alternation, several rounds, so that both see the same state of
# this shared, noisy machine. Reports the median and best ms per call of each, their ratio, and each build's worst
# error against a double-precision direct convolution (harnesses before 2026-12-04 print ms to 3 decimals: 1 us steps
# at batch 1). Needs gcc and a JDK's jni.h. Writes
# benchmarks/results/winograd-ab-<UTC time>.md.
# Usage: benchmarks/run-winograd-ab.sh BASE_REVISION [rounds=5] [seconds-per-run=0.7] [threads=2]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:?usage: $0 BASE_REVISION [rounds=5] [seconds-per-run=0.7] [threads=2]}"
rounds="${2:-5}"
seconds="${3:-0.7}"
threads="${4:-2}"
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[0-9]*[.]?[0-9]+$ && "$threads" =~ ^[1-9][0-9]*$ ]] \
  && python3 -c "import sys; sys.exit(0 if float('$seconds') > 0 else 1)" || {
  echo "usage: $0 BASE_REVISION [rounds=5] [seconds-per-run=0.7, more than 0] [threads=2]" >&2; exit 2; }
base_commit="$(git -C "$root" rev-parse --short "$base^{commit}")"
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# each build from its own sources: the harness, like the kernel, as that revision had it (its JNI signature with them)
mkdir -p "$work/base-src/native/cpu" "$work/base-src/benchmarks/kernels"
for f in native/cpu/winograd.c native/cpu/op_chain.c native/cpu/op_chain.h native/cpu/avx2_ops.h \
    benchmarks/kernels/layer_bench.c benchmarks/kernels/bench_util.h; do
  git -C "$root" show "$base_commit:$f" >"$work/base-src/$f" 2>/dev/null || {
    echo "$base_commit has no $f: the kernel's op-chain form (and this harness) came later; pick a later revision" >&2
    exit 2
  }
done
# the AVX-512VL copy of the kernel, where that revision has one (the library runs it on such processors)
git -C "$root" show "$base_commit:native/cpu/winograd_avx512.c" >"$work/base-src/native/cpu/winograd_avx512.c" \
  2>/dev/null || rm -f "$work/base-src/native/cpu/winograd_avx512.c"
build() { # build NAME SOURCE_ROOT: that root's layer_bench linked with its kernel (and its AVX-512VL copy)
  local copy=()
  [ -f "$2/native/cpu/winograd_avx512.c" ] && copy=(-DOSPREY_WINOGRAD_HAS_AVX512_COPY "$2/native/cpu/winograd_avx512.c")
  gcc -O3 -std=gnu11 -fopenmp -I"$java_home/include" -I"$java_home/include/linux" -I"$2/native/cpu" -o "$work/$1" \
    "$2/benchmarks/kernels/layer_bench.c" "$2/native/cpu/winograd.c" "${copy[@]}" "$2/native/cpu/op_chain.c" -lm
}
build base "$work/base-src"
build tree "$root"
# name | batch h w c k pad: outputs are h x w (pad 1) or (h-2) x (w-2) (pad 0)
layers=(
  "ResNet-20 stage 1|1 32 32 16 16 1"
  "ResNet-20 stage 2|1 16 16 32 32 1"
  "ResNet-20 stage 3|1 8 8 64 64 1"
  "tutorial conv2|1 13 13 32 64 0"
  "ResNet-20 stage 1|256 32 32 16 16 1"
  "ResNet-20 stage 2|256 16 16 32 32 1"
  "ResNet-20 stage 3|256 8 8 64 64 1"
  "tutorial conv2|256 13 13 32 64 0"
)
# tiles per block as Winograd.block picks them for 4x4 tiles: a multiple of 6, at most 12, fewer at small batches
block_of() {
  local batch=$1 h=$2 w=$3 pad=$4
  local oh=$((pad == 1 ? h : h - 2)) ow=$((pad == 1 ? w : w - 2))
  local tiles=$((batch * ((oh + 3) / 4) * ((ow + 3) / 4)))
  local per=$(((tiles + threads - 1) / threads))
  local b=$(((per + 5) / 6 * 6))
  [ "$b" -lt 6 ] && b=6
  [ "$b" -gt 12 ] && b=12
  echo "$b"
}
raw="$work/raw"
: >"$raw"
for layer in "${layers[@]}"; do
  name="${layer%%|*}"
  read -r batch h w c k pad <<<"${layer#*|}"
  block="$(block_of "$batch" "$h" "$w" "$pad")"
  for _ in $(seq "$rounds"); do
    for build in base tree; do
      line="$("$work/$build" "$batch" "$h" "$w" "$c" "$k" "$pad" "$block" "$threads" 4 "$seconds")"
      echo "$name|$batch $h $w $c $k $pad|$build|$line" >>"$raw"
    done
  done
done
mkdir -p "$root/benchmarks/results"
out="$root/benchmarks/results/winograd-ab-$(date -u +%Y-%m-%dT%H%MZ).md"
table="$work/table.md" # written whole, then moved: a failure leaves no half-written results file
tree_state="$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet -- native/cpu benchmarks/kernels || echo ' + uncommitted changes')"
{
  echo "# The Winograd kernel: $base_commit against the working tree, layer by layer"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads; tree: $tree_state"
  echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- command: \`benchmarks/run-winograd-ab.sh $base $rounds $seconds $threads\` ($rounds alternating rounds of $seconds s per build and layer; 4x4 tiles)"
  echo
  echo "| layer | shape (batch, h, w, in, out, pad) | $base_commit ms (median, best) | tree ms (median, best) | tree / $base_commit (median) | errors ($base_commit, tree) |"
  echo "|---|---|---:|---:|---:|---|"
  python3 - "$raw" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, shape, build, result = line.rstrip("\n").split("|")
    ms = float(re.search(r"ms=([0-9.]+)", result).group(1))
    err = re.search(r"max_error=(\S+)", result).group(1)
    entry = rows.setdefault((name, shape), {"base": [], "tree": [], "err": {}})
    entry[build].append(ms)
    entry["err"][build] = err
for (name, shape), e in rows.items():
    b, t = statistics.median(e["base"]), statistics.median(e["tree"])
    print(f"| {name} | {shape} | {b:.4f}, {min(e['base']):.4f} | {t:.4f}, {min(e['tree']):.4f} | {t / b:.2f}x "
          f"| {e['err']['base']}, {e['err']['tree']} |")
EOF
} >"$table"
mv "$table" "$out"
cat "$out"
echo "wrote $out" >&2
