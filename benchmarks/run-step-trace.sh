#!/usr/bin/env bash
# Which layers carry a slowdown of this shared machine: dev.osprey.bench.StepTrace profiles one built-in model's
# training steps layer by layer in short windows for a while (2 threads), and this script sets the fastest quarter of
# the windows beside the slowest, per layer type and direction, with the clock and the process's share of its CPUs in
# each. Writes benchmarks/results/step-trace-<UTC time>.md.
# Usage: benchmarks/run-step-trace.sh [model=resnet20] [batch=128] [seconds=180] [steps-per-window=6]
# JAVA_FLAGS="-Dosprey.cpu.batchNorm=osprey ...": settings of the JVM that runs the model (recorded in the report).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:-resnet20}"; batch="${2:-128}"; seconds="${3:-180}"; steps="${4:-6}"
[[ "$model" =~ ^[a-z0-9_.]+$ && "$batch" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ \
  && "$steps" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [model=resnet20] [batch=128] [seconds=180] [steps=6]" >&2; exit 2; }
export OMP_NUM_THREADS=2
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
read -r -a flags <<<"${JAVA_FLAGS:-}"
java "${flags[@]}" -Dosprey.cpu.deviceThread=false --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.StepTrace \
  "$model" "$batch" "$seconds" "$steps" 2>/dev/null | grep '^TRACE' >"$work/trace"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$root/benchmarks/results/step-trace-$stamp.md"
mkdir -p "$root/benchmarks/results"
/usr/bin/python3 - "$work/trace" "$out" "$model" "$batch" "$seconds" "$steps" "$(git -C "$root" rev-parse --short HEAD)" "${JAVA_FLAGS:-}" <<'PY'
import statistics, sys
trace, out, model, batch, seconds, steps, commit, flags = sys.argv[1:9]
prefix = f'JAVA_FLAGS="{flags}" ' if flags else ""
lines = open(trace).read().splitlines()
columns = lines[0].split()[1:]
rows = [[float(v) for v in l.split()[1:]] for l in lines[1:]]
if len(rows) < 8:
    sys.exit(f"only {len(rows)} windows: run longer")
step = columns.index("step_ms")
walls = sorted(r[step] for r in rows)
quarter = len(rows) // 4
fast = [r for r in rows if r[step] <= walls[quarter - 1]]
slow = [r for r in rows if r[step] >= walls[-quarter]]
md = [f"# Where a slowdown goes: {model} training at batch {batch}, {len(rows)} windows of {steps} steps",
      "",
      f"- commit {commit}; OMP_NUM_THREADS=2; computed on the calling thread; command: "
      f"`{prefix}benchmarks/run-step-trace.sh {model} {batch} {seconds} {steps}`",
      f"- ms per step over the windows: fastest {walls[0]:.1f}, median {statistics.median(walls):.1f}, "
      f"slowest {walls[-1]:.1f}",
      "- clock: dependent fused multiply-adds per ns on one thread (follows the core's frequency); cpu_share: the "
      "process's CPU time over twice the wall time (below 1 when something else ran on its CPUs); handover_ns: one "
      "cache-line hand-over between the two threads (about 35 ns where their vCPUs share a last-level cache)",
      ""]

def compare(label_a, rows_a, label_b, rows_b):
    """Each column's mean over two groups of windows, and the second over the first."""
    table = [f"| column | {label_a}: {len(rows_a)} windows (mean) | {label_b}: {len(rows_b)} windows (mean) "
             f"| {label_b} / {label_a} |", "|---|---:|---:|---:|"]
    for i, name in enumerate(columns):
        if name != "seconds":
            a, b = statistics.mean(r[i] for r in rows_a), statistics.mean(r[i] for r in rows_b)
            table.append(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |" if a else f"| {name} | {a:.2f} | {b:.2f} | — |")
    return table

md += compare("fastest", fast, "slowest", slow)
hand = columns.index("handover_ns")
near = [r for r in rows if r[hand] < 70]
far = [r for r in rows if r[hand] >= 70]
if near and far:
    md += ["", "The same columns by where the two threads ran: a cache line handed over in under 70 ns (their vCPUs share a "
           "last-level cache) or in 70 ns or more (the hypervisor put them further apart):", ""]
    md += compare("near", near, "far", far)
else:
    md += ["", f"Every window's hand-over was {'under' if near else 'at least'} 70 ns: no comparison by placement."]
md += ["", "Every window's ms per step, in order:", "", " ".join(f"{r[step]:.0f}" for r in rows), "",
       "Raw lines:", "", "```"] + lines + ["```"]
open(out, "w").write("\n".join(md) + "\n")
print("\n".join(md[:md.index("Every window's ms per step, in order:")]))
PY
echo "written: $out" >&2
