#!/usr/bin/env bash
# Where the time of a built-in model goes on this CPU, primitive by primitive: oneDNN's verbose mode times every
# primitive Osprey executes (switched on only for the measured calls, after warm-up), and this script sums them by
# kind and direction, with the GFLOP/s each convolution and inner-product kind achieved, beside the CPU's fp32 rate
# on a large matrix product (the yardstick) and the wall time of the same calls without the verbose mode (so the
# share of a call spent inside oneDNN shows). Phases: infer (batch 256; 32 for resnet18), latency (batch 1) and train
# (batch 128; 32 for resnet18). Writes benchmarks/results/op-profile-<UTC time>.md. At batch 1 the verbose mode adds
# microseconds to each primitive's time (ResNet-20's first convolution: 18 us here, 12.5 us alone in
# dev.osprey.bench.ConvOpTime, which benchmarks/run-conv-op-ab.sh runs): time a small layer alone before acting on it.
# Usage: benchmarks/run-op-profile.sh [calls=20] [models: tutorial resnet20 mobilenetv2 resnet18 mobilenetv2_224; default
#        the first three]. PRECISION=bf16 profiles bf16 inference and mixed_bfloat16 training instead of fp32;
#        PRECISION=int8 int8 inference (calibrated on the profiled images; no training phase).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
calls="${1:-20}"
if [ "$#" -gt 1 ]; then models=("${@:2}"); else models=(tutorial resnet20 mobilenetv2); fi
[[ "$calls" =~ ^[1-9][0-9]*$ && "${PRECISION:-fp32}" =~ ^(fp32|bf16|int8)$ ]] || {
  echo "usage: [PRECISION=fp32|bf16|int8] $0 [calls=20] [models...]" >&2; exit 2; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
java=(java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.OpProfile)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "peak" >&2
"${java[@]}" peak 3 2>/dev/null | grep '^OPPROFILE' >"$work/peak"
for m in "${models[@]}"; do
  for phase in infer latency train; do
    if [ "$phase" = train ] && [ "${PRECISION:-fp32}" = int8 ]; then continue; fi
    n="$calls"
    if [ "$phase" = latency ]; then n=$((calls * 50)); fi # batch-1 calls are short: more of them
    echo "$m $phase ($n calls)" >&2
    # a failed run leaves its log without figures; the report says so and the other runs go on
    "${java[@]}" "$m" "$phase" "$n" "${PRECISION:-fp32}" 2>/dev/null >"$work/$m-$phase.log" || echo "$m $phase failed" >&2
  done
done
mkdir -p "$root/benchmarks/results"
suffix=""; if [ "${PRECISION:-fp32}" != fp32 ]; then suffix="-$PRECISION"; fi
out="$root/benchmarks/results/op-profile$suffix-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 "$root/benchmarks/op_profile_report.py" "$work" "$calls" "${models[@]}" >"$out"
echo "wrote $out" >&2
