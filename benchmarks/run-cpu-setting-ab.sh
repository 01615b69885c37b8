#!/usr/bin/env bash
# Two settings of the CPU backend against each other, interleaved, several rounds: each model's batch-1 latency
# (median and p99) and batch-256 images/s through dev.osprey.bench.InferenceThroughput (or, with
# BENCH=GraphModelThroughput, training and inference figures of resnet20 or mobilenetv2), each run in its own JVM.
# Writes benchmarks/results/<name>-<UTC time>.md with every round and the ratios A / B.
# Usage: benchmarks/run-cpu-setting-ab.sh NAME LABEL_A=JVM_FLAGS_A LABEL_B=JVM_FLAGS_B [seconds-per-figure=3]
#          [rounds=4] [models: tutorial resnet20 mobilenetv2 ...]
# e.g.   benchmarks/run-cpu-setting-ab.sh winograd winograd=-Dosprey.cpu.winograd=auto direct=-Dosprey.cpu.winograd=never
# OMP_NUM_THREADS defaults to 2; OMP_WAIT_POLICY and GOMP_SPINCOUNT are passed on and named in the report.
# PRECISION=bf16|int8 runs InferenceThroughput's inference in that precision (int8 calibrated on random images).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage="usage: $0 NAME LABEL_A=FLAGS LABEL_B=FLAGS [seconds-per-figure=3] [rounds=4] [models...]"
[ "$#" -ge 3 ] || { echo "$usage" >&2; exit 2; }
name="$1"
label_a="${2%%=*}"; flags_a="${2#*=}"
label_b="${3%%=*}"; flags_b="${3#*=}"
seconds="${4:-3}"
rounds="${5:-4}"
if [ "$#" -gt 5 ]; then models=("${@:6}")
elif [ "${BENCH:-InferenceThroughput}" = GraphModelThroughput ]; then models=(resnet20 mobilenetv2)
else models=(tutorial resnet20 mobilenetv2); fi
[[ "$name" =~ ^[a-z0-9-]+$ && -n "$label_a" && -n "$label_b" && "$label_a" != "$label_b" \
  && "$seconds" =~ ^[0-9]+([.][0-9]+)?$ && "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "$usage" >&2; exit 2; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# the code measured: the commit, marked where tracked files differ from it (read before the runs, not after)
commit="$(git -C "$root" rev-parse --short HEAD)"
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || commit="$commit + uncommitted changes"
bench="${BENCH:-InferenceThroughput}"
precision="${PRECISION:-fp32}"
[[ "$precision" =~ ^(fp32|bf16|int8)$ && ( "$precision" = fp32 || "$bench" = InferenceThroughput ) ]] || {
  echo "PRECISION: expected fp32, bf16 or int8 (the last two with InferenceThroughput), received '$precision'" >&2
  exit 2; }
extra=(); if [ "$precision" != fp32 ]; then extra=("$precision"); fi
[[ "$bench" =~ ^(InferenceThroughput|GraphModelThroughput)$ ]] || {
  echo "BENCH: expected InferenceThroughput or GraphModelThroughput, received '$bench'" >&2; exit 2; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for model in "${models[@]}"; do
    order=(a b)
    if ((r % 2 == 0)); then order=(b a); fi # who runs first alternates between rounds
    for mode in "${order[@]}"; do
      if [ "$mode" = a ]; then label="$label_a"; flags="$flags_a"; else label="$label_b"; flags="$flags_b"; fi
      echo "round $r/$rounds: $model $label" >&2
      # a failed run is reported and left out; the others go on. $flags unquoted: several flags split on spaces
      # shellcheck disable=SC2086
      if ! result="$(java --enable-native-access=ALL-UNNAMED $flags -cp "$cp" \
          "dev.osprey.bench.$bench" "$model" "$seconds" "${extra[@]}" 2>&1)"; then
        echo "round $r: $model $label failed: $(tail -3 <<<"$result")" >&2
        continue
      fi
      { grep '^RESULT' <<<"$result" || echo "round $r: $model $label printed no figures" >&2; } \
        | awk -v r="$r" -v m="$mode" '{print r, m, $3, $4, $5}' >>"$log"
    done
  done
done
mkdir -p "$root/benchmarks/results"
out="$root/benchmarks/results/$name-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$log" "$rounds" "$seconds" "$OMP_NUM_THREADS" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
  "$commit" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" "${models[*]}" \
  "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-unset}" "$name" \
  "$label_a" "$flags_a" "$label_b" "$flags_b" "$(grep -o -w 'avx2\|avx512f\|avx512_bf16\|avx512_vnni' /proc/cpuinfo | sort -u | paste -sd' ' -)" \
  "$bench" "$precision" >"$out" <<'PY'
import sys, collections, statistics
(log, rounds, seconds, threads, cpu, commit, load0, load1, models, waiting, name,
 label_a, flags_a, label_b, flags_b, isa, bench, precision) = sys.argv[1:19]
runs = collections.defaultdict(dict)  # (model, figure) -> {(round, mode): value}
for line in open(log):
    r, mode, model, figure, value = line.split()
    runs[(model, figure)][(int(r), mode)] = float(value)
print(f"# CPU backend settings side by side: {label_a} vs {label_b}\n")
print(f"- machine: {cpu} ({isa}), OMP_NUM_THREADS={threads}, {waiting}; commit {commit}")
print(f"- {label_a}: `{flags_a}`; {label_b}: `{flags_b}`")
print(f"- {rounds} rounds, {seconds} s per figure, interleaved (per model, one JVM per setting in turn, the first"
      f" alternating between rounds); dev.osprey.bench.{bench}")
print(f"- load average before: {load0}; after: {load1}")
prefix = " ".join(w for w in waiting.split() if not w.endswith("=unset"))
bench_env = ("" if bench == "InferenceThroughput" else f"BENCH={bench} ") + (
    "" if precision == "fp32" else f"PRECISION={precision} ")
print(f"- command: `{prefix + ' ' if prefix else ''}{bench_env}benchmarks/run-cpu-setting-ab.sh {name} {label_a}={flags_a} "
      f"{label_b}={flags_b} {seconds} {rounds} {models}`\n")
print(f"For latency, {label_a} / {label_b} < 1 means {label_a} is faster; for images/s, > 1 does.\n")
print(f"| model | figure | {label_a} (median of rounds) | {label_b} (median of rounds) | "
      f"{label_a} / {label_b}, per round | median |")
print("|---|---|---:|---:|---|---:|")
figures = list(dict.fromkeys(figure for (_, figure) in runs))  # in the order the runs printed them
for model in models.split():
    for figure in figures:
        rs = runs.get((model, figure))
        if not rs:
            continue
        ratios, first, second = [], [], []
        for r in range(1, int(rounds) + 1):
            a, b = rs.get((r, "a")), rs.get((r, "b"))
            if a is not None:
                first.append(a)
            if b is not None:
                second.append(b)
            if a is not None and b is not None:
                ratios.append(a / b)
        fmt = (lambda v: f"{v:.3f}") if figure.endswith("_ms") else (lambda v: f"{v:,.0f}")
        print(f"| {model} | {figure} | {fmt(statistics.median(first)) if first else '-'} | "
              f"{fmt(statistics.median(second)) if second else '-'} | {' '.join(f'{x:.2f}' for x in ratios)} | "
              f"{statistics.median(ratios):.2f} |" if ratios else f"| {model} | {figure} | - | - | - | - |")
PY
echo "wrote $out" >&2
