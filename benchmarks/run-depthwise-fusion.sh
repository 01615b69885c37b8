#!/usr/bin/env bash
# MobileNetV2's inference with and without the CPU backend's pointwise + depthwise fusion (oneDNN's depthwise
# post-op; -Dosprey.cpu.fuseDepthwise=false turns it off), interleaved, several rounds, at 224x224x3 (batch 32 and 1)
# and 32x32x3 (batch 256). Writes benchmarks/results/depthwise-fusion-<UTC time>.md with every round and the ratios.
# Usage: benchmarks/run-depthwise-fusion.sh [seconds-per-figure=4] [rounds=3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-4}"
rounds="${2:-3}"
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [seconds-per-figure=4] [rounds=3]" >&2; exit 2; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
configs=("224 32" "224 1" "32 256")
for ((r = 1; r <= rounds; r++)); do
  for config in "${configs[@]}"; do
    order=(true false)
    if ((r % 2 == 0)); then order=(false true); fi # who runs first alternates between rounds
    for fuse in "${order[@]}"; do
      echo "round $r/$rounds: $config fuse=$fuse" >&2
      # a failed run is reported and left out; the others go on
      if ! result="$(java --enable-native-access=ALL-UNNAMED -Dosprey.cpu.fuseDepthwise="$fuse" -cp "$cp" \
          dev.osprey.bench.DepthwiseFusionAb $config "$seconds" 2>&1)"; then
        echo "round $r: $config fuse=$fuse failed: $(tail -3 <<<"$result")" >&2
        continue
      fi
      grep '^RESULT' <<<"$result" | sed "s/^/$r /" >>"$log"
    done
  done
done
mkdir -p "$root/benchmarks/results"
out="$root/benchmarks/results/depthwise-fusion-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$log" "$rounds" "$seconds" "$OMP_NUM_THREADS" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  "$(git -C "$root" rev-parse --short HEAD)" >"$out" <<'PY'
import sys, collections
log, rounds, seconds, threads, cpu, commit = sys.argv[1:7]
runs = collections.defaultdict(dict)  # (size, batch) -> {(round, mode): (ms, ips)}
for line in open(log):
    r, _, mode, size, batch, ms, ips = line.split()
    runs[(int(size), int(batch))][(int(r), mode)] = (float(ms), float(ips))
print("# MobileNetV2 inference: pointwise + depthwise fused vs separate (CPU backend)\n")
print(f"- machine: {cpu}; OMP_NUM_THREADS={threads}; commit {commit}")
print(f"- {rounds} rounds, {seconds} s per figure, interleaved (per configuration, fused and separate in turn, the first"
      " alternating between rounds);"
      " median time per predict call")
print("- command: `benchmarks/run-depthwise-fusion.sh " + seconds + " " + rounds + "`\n")
print("| input | batch | round | fused ms | separate ms | fused / separate speed |")
print("|---|---:|---:|---:|---:|---:|")
for (size, batch), rs in sorted(runs.items(), key=lambda kv: (-kv[0][0], -kv[0][1])):
    for r in range(1, int(rounds) + 1):
        f, s = rs.get((r, "fused")), rs.get((r, "separate"))
        if f and s:
            print(f"| {size}x{size}x3 | {batch} | {r} | {f[0]:.2f} | {s[0]:.2f} | {s[0] / f[0]:.2f}x |")
PY
echo "wrote $out" >&2
