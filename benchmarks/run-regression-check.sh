#!/usr/bin/env bash
# fp32 CPU training and inference speed of this checkout against an earlier commit, side by side: BASE is built in a
# temporary git worktree, then the two alternate for ROUNDS rounds (base first in odd rounds, head first in even ones)
# on the tutorial CNN (ModelThroughput: training at batch 32 and 256, inference at 256, batch-1 latency) and ResNet-20
# at 32x32x3 (GraphModelThroughput: training at batch 64 and 128, inference at 256, batch-1 latency). 2 threads.
# Writes a table of medians with ratios to benchmarks/results/regression-check-<UTC time>.md. Takes about 4 minutes a
# round at SECONDS=3.
# Usage: benchmarks/run-regression-check.sh BASE [ROUNDS=3] [SECONDS=3]
# TUTORIAL_ONLY=1 measures the tutorial CNN alone (about a minute a round). GRAPH_MODELS="resnet20 mobilenetv2" (default
# resnet20) names the graph models measured after it. SERVING=1 adds the serving benchmark (ServingBenchmark: Predictor
# in process and the HTTP server, 1 and 64 callers, batched and not; requests/s), about 40 s a round more.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${1:?usage: $0 BASE [ROUNDS=3] [SECONDS=3]}"
rounds="${2:-3}"
seconds="${3:-3}"
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || {
  echo "usage: $0 BASE [ROUNDS=3] [SECONDS=3]" >&2; exit 2; }
base_rev="$(git -C "$root" rev-parse --short "$base")"
head_rev="$(git -C "$root" rev-parse --short HEAD)"
dirty=""
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || dirty=" (with uncommitted changes)"
work="$(mktemp -d)"
cleanup() { git -C "$root" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
echo "building base $base_rev in a worktree, and head $head_rev ..." >&2
git -C "$root" worktree add --detach "$work/base" "$base_rev" >/dev/null 2>&1
(cd "$work/base" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
jar() { echo "$1/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$1/benchmarks/target/lib/*"; }
export OMP_NUM_THREADS=2
log="$work/log"
run_side() { # side classpath
  local side="$1" cp="$2"
  java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.ModelThroughput "$seconds" 2>/dev/null \
    | sed -n "s/^{/$side tutorial {/p" | tee -a "$log" >&2
  if [ "${SERVING:-0}" = 1 ]; then
    java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.ServingBenchmark "$seconds" 1 64 2>/dev/null \
      | sed -n "s/^{/$side serving {/p" | tee -a "$log" >&2
  fi
  [ "${TUTORIAL_ONLY:-0}" = 1 ] && return
  local model
  for model in ${GRAPH_MODELS:-resnet20}; do
    java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.GraphModelThroughput "$model" "$seconds" \
      2>/dev/null \
      | sed -n "s/^RESULT osprey $model \(train_b[0-9]*\|infer_b256\|latency_p50_ms\) /$side $model \1 /p" \
      | tee -a "$log" >&2
  done
}
for ((r = 1; r <= rounds; r++)); do
  echo "round $r of $rounds" >&2
  if ((r % 2)); then
    run_side base "$(jar "$work/base")"; run_side head "$(jar "$root")"
  else
    run_side head "$(jar "$root")"; run_side base "$(jar "$work/base")"
  fi
done
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$root/benchmarks/results/regression-check-$stamp.md"
python3 - "$log" "$base_rev" "$head_rev$dirty" "$rounds" "$seconds" "$(machine_name)" \
  >"$out" <<'PY'
import json, os, statistics, sys
log, base, head, rounds, seconds, cpu = sys.argv[1:]
figures = {}  # (side, figure) -> [values]
for line in open(log):
    side, model, rest = line.split(" ", 2)
    if model == "serving":
        r = json.loads(rest)
        mode = "locked" if r["max_batch"] == 0 else f"max_batch_{r['max_batch']}"
        figures.setdefault((side, f"serving {r['transport']} {r['callers']} callers {mode} req_s"), []).append(
            float(r["requests_per_s"]))
    elif model == "tutorial":
        for k, v in json.loads(rest).items():
            if k.endswith("_img_s") or k.endswith("_ms"):
                figures.setdefault((side, "tutorial " + k), []).append(float(v))
    else:
        figure, value = rest.split()
        name = figure if figure.endswith("_ms") else figure + "_img_s"
        figures.setdefault((side, model + " " + name), []).append(float(value))
print(f"# fp32 CPU speed: {head} against {base}, alternating, same machine, same minutes\n")
print(f"- machine: {cpu}; OMP_NUM_THREADS=2; {rounds} rounds of {seconds} s per figure, the sides alternating")
models = os.environ.get("GRAPH_MODELS", "")
prefix = f"GRAPH_MODELS=\"{models}\" " if models else ""
prefix = ("SERVING=1 " if os.environ.get("SERVING") == "1" else "") + prefix
print(f"- command: `{prefix}benchmarks/run-regression-check.sh {base} {rounds} {seconds}`\n")
print("| figure | base median | head median | ratio | base range | head range |")
print("|---|---:|---:|---:|---|---|")
names = sorted({f for (_, f) in figures}, key=lambda f: (not f.startswith("tutorial"), f))
for f in names:
    b, h = figures.get(("base", f), []), figures.get(("head", f), [])
    if not b or not h:
        continue
    bm, hm = statistics.median(b), statistics.median(h)
    ratio = bm / hm if f.endswith("_ms") else hm / bm
    fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.4f}"
    print(f"| {f} | {fmt(bm)} | {fmt(hm)} | {ratio:.2f}x | {fmt(min(b))}–{fmt(max(b))} | {fmt(min(h))}–{fmt(max(h))} |")
print("\nRatio > 1: head ahead (images/s and requests/s: head/base; latency: base/head).\n\nRaw lines:\n\n```")
print(open(log).read().rstrip())
print("```")
PY
echo "written: $out" >&2
cat "$out"
