#!/usr/bin/env bash
# Batch-1 latency and its tail (median to p99.9 and the maximum) under each thread setting a server can choose:
# OMP_NUM_THREADS 1 or 2, each with compute on the CPU backend's device thread (the default) and on the caller
# (-Dosprey.cpu.deviceThread=false), interleaved over several rounds, through dev.osprey.bench.LatencyTails.
# Writes benchmarks/results/latency-tails-<UTC time>.md with every round and the medians over rounds.
# Usage: benchmarks/run-latency-tails.sh [seconds-per-run=3] [rounds=3] [models: tutorial resnet20 mobilenetv2 ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-3}"
rounds="${2:-3}"
if [ "$#" -gt 2 ]; then models=("${@:3}"); else models=(tutorial resnet20 mobilenetv2); fi
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || {
  echo "usage: $0 [seconds-per-run=3] [rounds=3] [models...]" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
settings=("2 true" "2 false" "1 true" "1 false")
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for model in "${models[@]}"; do
    order=("${settings[@]}")
    if ((r % 2 == 0)); then order=("1 false" "1 true" "2 false" "2 true"); fi # the first alternates between rounds
    for setting in "${order[@]}"; do
      read -r threads device <<<"$setting"
      echo "round $r/$rounds: $model OMP_NUM_THREADS=$threads deviceThread=$device" >&2
      # a failed run is reported and left out; the others go on
      if ! result="$(OMP_NUM_THREADS="$threads" java --enable-native-access=ALL-UNNAMED \
          -Dosprey.cpu.deviceThread="$device" -cp "$cp" dev.osprey.bench.LatencyTails "$model" "$seconds" 2>&1)"; then
        echo "round $r: $model $setting failed: $(tail -3 <<<"$result")" >&2
        continue
      fi
      { grep '^RESULT' <<<"$result" || echo "round $r: $model $setting printed no figures" >&2; } \
        | awk -v r="$r" -v t="$threads" -v d="$device" '{print r, t, d, $3, $4, $5}' >>"$log"
    done
  done
done
mkdir -p "$root/benchmarks/results"
out="$root/benchmarks/results/latency-tails-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$log" "$rounds" "$seconds" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  "$(git -C "$root" rev-parse --short HEAD)" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "${models[*]}" \
  "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-unset}" >"$out" <<'PY'
import sys, collections, statistics
log, rounds, seconds, cpu, commit, load0, load1, models, waiting = sys.argv[1:10]
runs = collections.defaultdict(lambda: collections.defaultdict(list))  # (model, threads, device) -> figure -> values
for line in open(log):
    r, threads, device, model, figure, value = line.split()
    runs[(model, threads, device)][figure].append(float(value))
figures = ["p50_us", "p90_us", "p99_us", "p999_us", "max_us", "over_1ms", "calls"]
print("# Batch-1 latency and its tail under each thread setting (CPU backend)\n")
print(f"- machine: {cpu}; {waiting}; commit {commit}")
print(f"- {rounds} rounds, {seconds} s per run, interleaved (per model, the four settings in turn, the order reversed"
      " every other round); dev.osprey.bench.LatencyTails, softmax included; one model, one calling thread")
print(f"- load average before: {load0}; after: {load1}")
print(f"- command: `benchmarks/run-latency-tails.sh {seconds} {rounds} {models}`\n")
print("Medians over the rounds (µs; 'over 1 ms' counts calls per run); every round's figures follow.\n")
print("| model | OMP_NUM_THREADS | compute on | p50 | p90 | p99 | p99.9 | max | over 1 ms | calls |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for model in models.split():
    for threads, device in (("2", "true"), ("2", "false"), ("1", "true"), ("1", "false")):
        f = runs.get((model, threads, device))
        if not f:
            continue
        cells = [f"{statistics.median(f[k]):,.0f}" if f.get(k) else "-" for k in figures]
        print(f"| {model} | {threads} | {'device thread' if device == 'true' else 'caller'} | " + " | ".join(cells) + " |")
print("\n## Every round\n")
print("| model | OMP_NUM_THREADS | compute on | figure | " + " | ".join(f"round {i}" for i in range(1, int(rounds) + 1)) + " |")
print("|---|---:|---|---|" + "---:|" * int(rounds))
for model in models.split():
    for threads, device in (("2", "true"), ("2", "false"), ("1", "true"), ("1", "false")):
        f = runs.get((model, threads, device))
        if not f:
            continue
        for k in figures:
            print(f"| {model} | {threads} | {'device thread' if device == 'true' else 'caller'} | {k} | "
                  + " | ".join(f"{v:,.0f}" for v in f.get(k, [])) + " |")
PY
echo "wrote $out" >&2
