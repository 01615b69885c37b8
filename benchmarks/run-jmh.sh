#!/usr/bin/env bash
# The JMH suite: every backend op of the tutorial CNN at batch 256 (GFLOP/s or GB/s), and whole training steps and
# inference batches (TutorialStepBenchmark), on every usable device. --quick finishes in a few minutes on 2 cores.
# Usage: benchmarks/run-jmh.sh [--quick] [extra JMH arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=()
if [ "${1:-}" = "--quick" ]; then
  quick=(-wi 1 -w 1 -i 2 -r 1)
  shift
fi
(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am)
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
devices=cpu
if java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.CudaCheck >/dev/null 2>&1; then
  devices=cpu,cuda
else
  echo "cuda rows skipped: $(java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.CudaCheck 2>&1 | tail -1)"
fi
results="$(mktemp --suffix=.json)"
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" java -cp "$cp" org.openjdk.jmh.Main "${quick[@]}" -p device="$devices" \
  -rf json -rff "$results" "$@" 'OpBenchmark|TutorialStepBenchmark'
out="$root/benchmarks/results/jmh-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$results" "$out" "${quick[*]:-full}" <<'PY'
import json, subprocess, sys
rows = json.load(open(sys.argv[1]))
lines = []
def print_(s=""):
    lines.append(s)
    print(s)
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print_("# JMH: the tutorial CNN's ops at batch 256, whole steps and inference batches")
print_()
print_("- machine: %s, %s vCPU; OMP_NUM_THREADS=2; JMH %s" % (cpu, subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(), rows[0]["jmhVersion"]))
print_("- command: `benchmarks/run-jmh.sh %s`" % ("--quick" if sys.argv[3] != "full" else ""))
print_()
print_("```")
print_("%-42s %-7s %-6s %14s" % ("benchmark", "device", "batch", "result"))
for r in rows:
    name = r["benchmark"].split(".")[-2] + "." + r["benchmark"].split(".")[-1]
    p = r.get("params", {})
    score = r["primaryMetric"]["score"]
    op = name.split(".")[-1]
    if name.startswith("OpBenchmark"):
        unit = "GB/s" if op in ("maxPool2dForward", "maxPool2dBackward", "softmaxCrossEntropy", "adamUpdate") else "GFLOP/s"
        value = "%.1f %s" % (score, unit)
        batch = "256"
    else:
        value = "%.3f ms" % (score / 1000.0)
        batch = p.get("batch", "")
    print_("%-42s %-7s %-6s %14s" % (name, p.get("device", "cpu"), batch, value))
print_("```")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
echo "written: $out"
