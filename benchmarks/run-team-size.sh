#!/usr/bin/env bash
# Small primitives on fewer OpenMP threads (the CPU backend's TeamSize) against every primitive on the whole team
# (-Dosprey.cpu.minMicrosPerThread=0), interleaved, several rounds: each model's batch-1 latency (median and p99) and
# batch-256 images/s, through dev.osprey.bench.InferenceThroughput. Writes
# benchmarks/results/team-size-<UTC time>.md with every round and the ratios. OpenMP's wait policy decides much of
# batch-1 latency: run it as it is (threads spin 300,000 times before they sleep), with GOMP_SPINCOUNT=20000 (what
# ./osprey serve sets) and with OMP_WAIT_POLICY=PASSIVE (threads sleep at once: the test command's setting); the
# report names the one it ran with.
# Usage: benchmarks/run-team-size.sh [seconds-per-figure=3] [rounds=4] [models: tutorial resnet20 mobilenetv2 ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-3}"
rounds="${2:-4}"
if [ "$#" -gt 2 ]; then models=("${@:3}"); else models=(tutorial resnet20 mobilenetv2); fi
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [seconds-per-figure=3] [rounds=4] [models...]" >&2; exit 2; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for model in "${models[@]}"; do
    order=(sized whole)
    if ((r % 2 == 0)); then order=(whole sized); fi # who runs first alternates between rounds
    for mode in "${order[@]}"; do
      micros=10; [ "$mode" = whole ] && micros=0
      echo "round $r/$rounds: $model $mode" >&2
      # a failed run is reported and left out; the others go on
      if ! result="$(java --enable-native-access=ALL-UNNAMED -Dosprey.cpu.minMicrosPerThread="$micros" -cp "$cp" \
          dev.osprey.bench.InferenceThroughput "$model" "$seconds" 2>&1)"; then
        echo "round $r: $model $mode failed: $(tail -3 <<<"$result")" >&2
        continue
      fi
      { grep '^RESULT' <<<"$result" || echo "round $r: $model $mode printed no figures" >&2; } \
        | awk -v r="$r" -v m="$mode" '{print r, m, $3, $4, $5}' >>"$log"
    done
  done
done
mkdir -p "$root/benchmarks/results"
out="$root/benchmarks/results/team-size-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$log" "$rounds" "$seconds" "$OMP_NUM_THREADS" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  "$(git -C "$root" rev-parse --short HEAD)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "${models[*]}" \
  "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-unset}" >"$out" <<'PY'
import sys, collections, statistics
log, rounds, seconds, threads, cpu, commit, load0, load1, models, waiting = sys.argv[1:11]
runs = collections.defaultdict(dict)  # (model, figure) -> {(round, mode): value}
for line in open(log):
    r, mode, model, figure, value = line.split()
    runs[(model, figure)][(int(r), mode)] = float(value)
print("# Small primitives on fewer OpenMP threads vs every primitive on the whole team (CPU backend)\n")
print(f"- machine: {cpu}, OMP_NUM_THREADS={threads}, {waiting}; commit {commit}")
print(f"- sized: each primitive gets no more threads than 10 µs of its estimated one-thread work per thread "
      f"(the default); whole: -Dosprey.cpu.minMicrosPerThread=0, every primitive on the whole team")
print(f"- {rounds} rounds, {seconds} s per figure, interleaved (per model, sized and whole in turn, the first"
      " alternating between rounds); dev.osprey.bench.InferenceThroughput, softmax included")
print(f"- load average before: {load0}; after: {load1}")
prefix = " ".join(w for w in waiting.split() if not w.endswith("=unset"))
print(f"- command: `{prefix + ' ' if prefix else ''}benchmarks/run-team-size.sh {seconds} {rounds} {models}`\n")
print("For latency, sized / whole < 1 means sized is faster; for images/s, > 1 does.\n")
print("| model | figure | sized (median of rounds) | whole (median of rounds) | sized / whole, per round | median |")
print("|---|---|---:|---:|---|---:|")
for model in models.split():
    for figure in ("latency_p50_ms", "latency_p99_ms", "infer_b256"):
        rs = runs.get((model, figure))
        if not rs:
            continue
        ratios, sized, whole = [], [], []
        for r in range(1, int(rounds) + 1):
            a, b = rs.get((r, "sized")), rs.get((r, "whole"))
            if a is not None:
                sized.append(a)
            if b is not None:
                whole.append(b)
            if a is not None and b is not None:
                ratios.append(a / b)
        fmt = (lambda v: f"{v:,.0f}") if figure == "infer_b256" else (lambda v: f"{v:.3f}")
        print(f"| {model} | {figure} | {fmt(statistics.median(sized)) if sized else '-'} | "
              f"{fmt(statistics.median(whole)) if whole else '-'} | {' '.join(f'{x:.2f}' for x in ratios)} | "
              f"{statistics.median(ratios):.2f} |" if ratios else f"| {model} | {figure} | - | - | - | - |")
PY
echo "wrote $out" >&2
