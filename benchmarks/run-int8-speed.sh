#!/usr/bin/env bash
# int8 against fp32 inference on this CPU, interleaved: per round and model, Osprey in fp32 then in int8 (calibrated
# on random images: speed only; benchmarks/run-precision.sh measures accuracy on trained models). Figures: images/s
# at a large batch (256; 32 for resnet18) and batch-1 latency, each with the softmax, 2 threads unless
# OMP_NUM_THREADS says otherwise. Writes benchmarks/results/int8-speed-<UTC time>.md with the int8/fp32 ratio of
# each round and where the two vCPUs sat before each figure (benchmarks/placement-probe.sh: near, sharing a last-level
# cache, or far; fp32's Winograd kernels run 10-30% slower far apart, so only pairs in the same placement compare
# like with like). Usage: benchmarks/run-int8-speed.sh [seconds-per-figure=5] [rounds=3] [models: tutorial resnet20
# mobilenetv2 resnet18; default the first three]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/benchmarks/placement-probe.sh"
seconds="${1:-5}"
rounds="${2:-3}"
if [ "$#" -gt 2 ]; then models=("${@:3}"); else models=(tutorial resnet20 mobilenetv2); fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$log" "$work"' EXIT
build_placement_probe "$work"
for r in $(seq 1 "$rounds"); do
  for m in "${models[@]}"; do
    for p in fp32 int8; do
      echo "round $r: $m $p" >&2
      probe_placement "$r" "$m" "$p" >>"$log"
      # a CPU without int8 kernels makes the int8 run exit 3: its figures are then missing, the others go on
      { java -cp "$cp" dev.osprey.bench.InferenceThroughput "$m" "$seconds" "$p" 2>/dev/null || true; } \
        | awk -v r="$r" '/^RESULT/ {print r, $2, $3, $4, $5}' >>"$log"
    done
  done
done
out="$root/benchmarks/results/int8-speed-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# int8 against fp32 inference, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- machine: $(machine_name), $(nproc) cores; ISA flags: $(grep -o 'avx512_vnni\|avx_vnni\|avx512f\|avx2\|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo "- OMP_NUM_THREADS=$OMP_NUM_THREADS; $rounds round(s), $seconds s per figure; per round and model fp32, then int8"
  echo "- commit $(cd "$root" && git rev-parse --short HEAD); command: \`benchmarks/run-int8-speed.sh $seconds $rounds ${models[*]}\`"
  echo
  echo "| model | figure | round | fp32 | int8 | int8/fp32 (images/s) or fp32/int8 (latency): > 1 = int8 ahead | vCPUs before fp32, int8 |"
  echo "|---|---|---:|---:|---:|---:|---|"
  awk '$1 == "PROBE" {split($5, h, "="); where[$2" "$3" "$4] = sprintf("%.0f ns (%s)", h[2], h[2] < 70 ? "near" : "far"); next}
       {k=$3" "$4" "$1; v[k" "$2]=$5; keys[k]=1}
       END {for (k in keys) {split(k, a, " "); f=v[k" osprey"]; i=v[k" osprey-INT8"]; if (i == "") i=v[k" osprey-int8"];
            if (f == "" || i == "") continue; ratio = (a[2] ~ /latency/) ? f / i : i / f;
            wf = where[a[3]" "a[1]" fp32"]; wi = where[a[3]" "a[1]" int8"];
            printf "| %s | %s | %s | %.4g | %.4g | %.2f | %s, %s |\n", a[1], a[2], a[3], f, i, ratio,
                   wf == "" ? "-" : wf, wi == "" ? "-" : wi}}' "$log" | sort
  echo
  echo "vCPUs before: one cache-line hand-over between the two vCPUs just before that figure"
  echo "(benchmarks/kernels/placement_probe.c); near, under 70 ns: they share a last-level cache; far: they don't."
} >"$out"
cat "$out"
