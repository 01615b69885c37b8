#!/usr/bin/env bash
# Inference on this CPU, side by side: Osprey, ONNX Runtime for Java and PyTorch on the tutorial CNN (28x28x1),
# ResNet-20 and MobileNetV2 (32x32x3) and torchvision's ResNet-18 (224x224x3), 10 classes, random weights, 2 threads
# each. Figures: inference images/s at batch 256 (32 for ResNet-18) and batch-1 latency median and p99, every one
# with a softmax over the logits. Run interleaved: ROUNDS rounds, per round and model Osprey, ONNX Runtime,
# PyTorch; the best round of each figure is kept. Writes benchmarks/results/inference-vs-peers-<UTC time>.md.
#
# Every side prints lines "RESULT <framework> <model> <figure> <value>"; this script collects them:
#   Osprey        dev.osprey.bench.InferenceThroughput MODEL SECONDS
#   ONNX Runtime  dev.osprey.bench.OrtPeer MODEL FILE.onnx SECONDS THREADS BATCH, on the model exported from the
#                 PyTorch definition (benchmarks/peers/pytorch_models.py export MODEL FILE.onnx, opset 13)
#   PyTorch       benchmarks/peers/pytorch_models.py infer MODEL SECONDS THREADS (best of NCHW and channels_last)
#
# Builds the benchmarks module first unless SKIP_BUILD=1. Needs Debian's python3-torch, python3-torchvision,
# python3-onnx and libopenblas0-openmp (installed if missing, when run as root).
# Where the CPU has AVX512_BF16 (or AMX), Osprey also runs in bf16 (Model.inferencePrecision(BF16)) right after its
# fp32 run, as a column of its own; BF16=0 leaves it out. INT8=1 also runs Osprey in int8 (Model.quantize, calibrated
# on random images: a speed figure; benchmarks/run-precision.sh measures int8 accuracy) in a column of its own.
# FROM_ONNX=1: Osprey runs the very ONNX file ONNX Runtime runs, imported (Model.importOnnx), instead of its own
# definition of the model (needs the osprey-onnx module, built where libonnx-dev is installed).
# COMPUTE=device: Osprey hands each call to its device thread (a library's default) instead of computing on the caller.
# Usage: benchmarks/run-inference-vs-peers.sh [seconds-per-figure=5] [rounds=3] [models...]
#        models: any of tutorial resnet20 mobilenetv2 resnet18 mobilenetv2_224 vittiny vittiny_224 (default: the
#        first four; mobilenetv2_224 is MobileNetV2 at 224x224x3, batch 32; vittiny is ViT-Tiny on 4x4 patches of
#        32x32x3, vittiny_224 DeiT-Tiny on 16x16 patches of 224x224x3, batch 32)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-5}"
rounds="${2:-3}"
all_models=(tutorial resnet20 mobilenetv2 resnet18 mobilenetv2_224 vittiny vittiny_224)
if [ "$#" -gt 2 ]; then
  models=("${@:3}")
else
  models=(tutorial resnet20 mobilenetv2 resnet18)
fi
threads=2
results="$root/benchmarks/results"
peers="$root/benchmarks/peers/pytorch_models.py"
python=/usr/bin/python3   # Debian's interpreter, where python3-torch lives
packages=(python3-torch python3-torchvision python3-onnx libopenblas0-openmp)

usage() {
  echo "usage: $0 [seconds-per-figure=5] [rounds=3] [models: ${all_models[*]}]" >&2
  exit 2
}
[[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
for model in "${models[@]}"; do
  case " ${all_models[*]} " in
    *" $model "*) ;;
    *) echo "unknown model '$model'" >&2; usage ;;
  esac
done

batch_of() {  # the large batch of a model's inference figure: 256, or 32 at 224x224x3
  case "$1" in resnet18|mobilenetv2_224|vittiny_224) echo 32 ;; *) echo 256 ;; esac
}

if ! "$python" -c 'import torch, torchvision, onnx' 2>/dev/null || ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
  else
    echo "needs: sudo apt-get install ${packages[*]}" >&2; exit 1
  fi
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# where the two vCPUs sit before each framework's figures (the appendix shows it beside every round)
# shellcheck source=benchmarks/placement-probe.sh
source "$root/benchmarks/placement-probe.sh"
build_placement_probe "$work"
log="$work/log"
notes="$work/notes"
touch "$log" "$notes"

jar="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar"
cp="$jar:$root/benchmarks/target/lib/*"
# Osprey computes on the calling thread, as the command line does and as ONNX Runtime and PyTorch do (one calling
# thread here); COMPUTE=device hands every call to the CPU backend's device thread, a library's default.
compute="${COMPUTE:-caller}"
case "$compute" in caller) device_thread=false ;; device) device_thread=true ;;
  *) echo "COMPUTE: expected caller or device, received '$compute'" >&2; exit 2 ;; esac
export OSPREY_COMPUTE="$compute"
java=(java -Dosprey.cpu.deviceThread="$device_thread" --enable-native-access=ALL-UNNAMED -cp "$cp")
if [ ! -f "$jar" ]; then
  echo "$jar is missing: run without SKIP_BUILD=1 to build it" >&2; exit 1
fi
if [ "${SKIP_BUILD:-0}" = 1 ] \
    && [ -n "$(find "$root/benchmarks/src/main/java" -name '*.java' -newer "$jar" -print -quit)" ]; then
  echo "SKIP_BUILD=1, and some benchmark sources are newer than the jar: the jar may be stale (an OrtPeer without" \
    "the BATCH argument exits 2)." | tee -a "$notes" >&2
fi
in_jar() {
  "$python" -c 'import sys, zipfile; sys.exit(sys.argv[2] not in zipfile.ZipFile(sys.argv[1]).namelist())' "$jar" "$1"
}

osprey=yes
if ! in_jar dev/osprey/bench/InferenceThroughput.class; then
  osprey=no
  echo "dev.osprey.bench.InferenceThroughput is not in the jar: no Osprey figures." | tee -a "$notes" >&2
fi

for model in "${models[@]}"; do
  "$python" "$peers" export "$model" "$work/$model.onnx" >&2
done

bf16=no
if [ "${BF16:-1}" = 1 ] && lscpu | grep -qwE 'avx512_bf16|amx_bf16'; then
  bf16=yes
fi

export OMP_NUM_THREADS=$threads
# Others' work on the machine skews every side's figures: the report gives the load average and, where the kernel
# has it, the CPU pressure (share of the last 60 s in which some runnable task waited for a CPU), before and after.
load() {
  local pressure=""
  if [ -r /proc/pressure/cpu ]; then
    pressure=", CPU pressure $(sed -n 's/^some avg10=[^ ]* avg60=\([^ ]*\) .*/\1/p' /proc/pressure/cpu)%"
  fi
  echo "$(cut -d' ' -f1-3 /proc/loadavg)$pressure"
}
load_before="$(load)"

# run ROUND MODEL FRAMEWORK COMMAND...: marks the log with the round, runs the command, keeps its output.
run() {
  local round="$1" model="$2" framework="$3"
  shift 3
  echo "round $round/$rounds, $model: $framework" >&2
  echo "ROUND $round $model $framework" >>"$log"
  probe_placement "$round" "$model" "$framework" >>"$log"
  if ! "$@" | tee -a "$log" >&2; then
    echo "round $round, $model: $framework failed (exit ${PIPESTATUS[0]})" | tee -a "$notes" >&2
  fi
}

for ((r = 1; r <= rounds; r++)); do
  for model in "${models[@]}"; do
    if [ "$osprey" = yes ]; then
      spec="$model"
      if [ "${FROM_ONNX:-0}" = 1 ]; then spec="$model=$work/$model.onnx"; fi
      run "$r" "$model" osprey "${java[@]}" dev.osprey.bench.InferenceThroughput "$spec" "$seconds"
      if [ "$bf16" = yes ]; then
        run "$r" "$model" osprey-bf16 "${java[@]}" dev.osprey.bench.InferenceThroughput "$spec" "$seconds" bf16
      fi
      if [ "${INT8:-0}" = 1 ]; then
        run "$r" "$model" osprey-int8 "${java[@]}" dev.osprey.bench.InferenceThroughput "$spec" "$seconds" int8
      fi
    fi
    # ONNX Runtime unpacks its natives into a fresh java.io.tmpdir folder and leaves the folder: keep it in $work.
    run "$r" "$model" onnxruntime "${java[@]}" -Djava.io.tmpdir="$work" dev.osprey.bench.OrtPeer "$model" \
      "$work/$model.onnx" "$seconds" "$threads" "$(batch_of "$model")"
    # glibc may re-map large buffers every step in torch; these settings give torch its best figures.
    run "$r" "$model" pytorch env MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \
      "$python" "$peers" infer "$model" "$seconds" "$threads"
  done
done

mkdir -p "$results"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$results/inference-vs-peers-$stamp.md"
n=2
while [ -e "$out" ]; do   # a second run within the same minute keeps the first one's file
  out="$results/inference-vs-peers-$stamp-$n.md"
  n=$((n + 1))
done
load_after="$(load)"
cpu="$(machine_name)"
flags="$(lscpu | sed -n 's/^Flags: *//p')"
java_version="$(java -version 2>&1 | head -1)"
command_line="benchmarks/run-inference-vs-peers.sh $seconds $rounds ${models[*]}"
if [ "${INT8:-0}" = 1 ]; then command_line="INT8=1 $command_line"; fi
if [ "$bf16" = no ] && [ "${BF16:-1}" != 1 ]; then command_line="BF16=0 $command_line"; fi
if [ "${FROM_ONNX:-0}" = 1 ]; then
  command_line="FROM_ONNX=1 $command_line"
  echo "Osprey ran the ONNX files ONNX Runtime ran, imported with Model.importOnnx (FROM_ONNX=1)." >>"$notes"
fi
"$python" - "$log" "$notes" "$out" "$seconds" "$rounds" "$threads" "$cpu" "$flags" "$java_version" \
  "$command_line" "$load_before" "$load_after" "${models[@]}" <<'PY'
import collections, os, platform, re, subprocess, sys
log, notes, out, seconds, rounds, threads, cpu, flags, java_version, command_line, load_before, load_after = \
    sys.argv[1:13]
models = sys.argv[13:]
rounds = int(rounds)
lines = open(log).read().splitlines()

values = collections.defaultdict(dict)           # (framework, model, figure) -> {round: value}
torch_format = collections.defaultdict(dict)     # (model, figure) -> {round: better memory format}
info = {}
current_round = 0
placement = {}  # (round, model, framework) -> cache-line hand-over ns between the vCPUs just before its figures
for line in lines:
    f = line.split()
    if len(f) == 4 and f[0] == "ROUND":
        current_round = int(f[1])
    elif len(f) == 5 and f[0] == "RESULT":
        values[(f[1], f[2], f[3])][current_round] = float(f[4])
    elif len(f) == 5 and f[0] == "PROBE":
        placement[(int(f[1]), f[2], f[3])] = float(f[4].split("=", 1)[1])
    elif line.startswith("INFO pytorch torch="):
        info["pytorch"] = line[len("INFO pytorch "):]
    elif line.startswith("INFO onnxruntime version="):
        info["onnxruntime"] = re.sub(r" input=\S+| batch=\S+", "", line[len("INFO onnxruntime "):])
    elif line.startswith("INFO osprey"):
        info["osprey"] = line[len("INFO osprey "):]
    elif line.startswith("INFO pytorch ") and " best=" in line:  # INFO pytorch MODEL FIGURE nchw=.. ... best=..
        torch_format[(f[2], f[3])][current_round] = dict(w.split("=", 1) for w in f[4:])["best"]

frameworks = [("osprey", "Osprey"), ("onnxruntime", "ONNX Runtime"), ("pytorch", "PyTorch")]
# Osprey's other precisions, each a column and a ratio against ONNX Runtime's fp32 of its own
precisions = [(fw, name) for fw, name in (("osprey-bf16", "Osprey bf16"), ("osprey-int8", "Osprey int8"))
              if any(k[0] == fw for k in values)]
frameworks[1:1] = precisions


def latency(figure):
    return figure.startswith("latency")


def figures_of(model):
    infer = sorted({k[2] for k in values if k[1] == model and k[2].startswith("infer_b")},
                   key=lambda s: int(s[len("infer_b"):]))
    return infer + ["latency_p50_ms", "latency_p99_ms"]


def describe(figure):
    if figure.startswith("infer_b"):
        return f"inference, batch {figure[len('infer_b'):]} (images/s)"
    return {"latency_p50_ms": "batch-1 latency, median (ms)", "latency_p99_ms": "batch-1 latency, p99 (ms)"}[figure]


def best(fw, model, figure):
    v = values.get((fw, model, figure))
    return None if not v else (min(v.values()) if latency(figure) else max(v.values()))


def fmt(x, figure):
    if x is None:
        return "—"
    if latency(figure):
        return f"{x:.3f}"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def ratio(model, figure, peer, ours="osprey"):
    o, p = best(ours, model, figure), best(peer, model, figure)
    if o is None or p is None or p == 0:
        return "—"
    return f"{o / p:.2f}" if o / p >= 0.1 else f"{o / p:.3f}"


def per_round(model, figure, peer, ours="osprey"):
    """ours / peer round by round (the two measured minutes apart): lowest-highest over the rounds (median)."""
    o, p = values.get((ours, model, figure), {}), values.get((peer, model, figure), {})
    r = sorted(o[k] / p[k] for k in o if k in p and p[k] != 0)
    if not r:
        return "—"
    mid = r[len(r) // 2] if len(r) % 2 else (r[len(r) // 2 - 1] + r[len(r) // 2]) / 2
    return f"{r[0]:.2f}–{r[-1]:.2f} ({mid:.2f})"


def version(module):
    try:
        return __import__(module).__version__
    except Exception:
        return "not importable"


def cpu_flag(flag):
    return "yes" if flag in flags.split() else "no"


amx = [fl for fl in ("amx_tile", "amx_bf16", "amx_int8") if fl in flags.split()]
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
shapes = {"tutorial": "28x28x1", "resnet20": "32x32x3", "mobilenetv2": "32x32x3", "resnet18": "224x224x3",
          "mobilenetv2_224": "224x224x3", "vittiny": "32x32x3", "vittiny_224": "224x224x3"}
md = [f"# Inference on the CPU: Osprey vs ONNX Runtime vs PyTorch, best of {rounds} interleaved round(s)",
      "",
      f"- machine: {cpu}, {nproc} vCPU; avx512f: {cpu_flag('avx512f')}, avx512_vnni: {cpu_flag('avx512_vnni')}, "
      f"avx512_bf16: {cpu_flag('avx512_bf16')}, AMX: {', '.join(amx) if amx else 'no'}; {platform.platform()}",
      f"- Osprey: {info.get('osprey', 'no INFO line')}; {java_version}; compute on "
      f"{'the calling thread (-Dosprey.cpu.deviceThread=false)' if os.environ.get('OSPREY_COMPUTE') == 'caller' else 'the device thread (COMPUTE=device)'}",
      f"- ONNX Runtime (Java): {info.get('onnxruntime', 'not run')}; graph optimization ALL, sequential, inter-op 1; "
      f"model exported from the PyTorch definition (opset 13, onnx {version('onnx')})",
      f"- PyTorch: {info.get('pytorch', 'not run')}, torchvision {version('torchvision')}; each figure measured in "
      "NCHW and channels_last, the better kept; MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296",
      f"- threads: {threads} each (OMP_NUM_THREADS={threads}, torch.set_num_threads({threads}), "
      f"ORT intra-op {threads}); {rounds} round(s), {seconds} s per figure per round; per round and model the order "
      "is Osprey, " + "".join(name + ", " for _, name in precisions) + "ONNX Runtime, PyTorch",
      "- models: " + ", ".join(f"{m} ({shapes.get(m, '?')})" for m in models) + "; 10 classes, random weights, "
      "seeded random normal images; every figure includes a softmax over the logits",
      f"- load average (1, 5, 15 min) and CPU pressure (avg60) before the rounds: {load_before}; "
      f"after: {load_after}",
      f"- command: `{command_line}`",
      "",
      "Best = highest images/s or lowest ms over the rounds. Ratios compare best figures as **Osprey / peer** for "
      "every row: for images/s > 1 means Osprey is ahead; **for latency (ms) < 1 means Osprey is ahead**. "
      "'per round' pairs each round's Osprey and ONNX Runtime figures, measured minutes apart: lowest–highest over "
      "the rounds (median); the machine's speed moves between rounds, and the best figures may come from different "
      "ones.",
      ""]
for model in models:
    md += [f"## {model} ({shapes.get(model, '?')})", "",
           "| figure | " + " | ".join(name for _, name in frameworks) + " | Osprey/ORT | Osprey/ORT per round | "
           + "".join(f"{name}/ORT | " for _, name in precisions) + "Osprey/PyTorch |",
           "|---|" + "---:|" * (len(frameworks) + 3 + len(precisions))]
    picks = []
    for figure in figures_of(model):
        md.append(f"| {describe(figure)} | " + " | ".join(fmt(best(fw, model, figure), figure) for fw, _ in frameworks)
                  + f" | {ratio(model, figure, 'onnxruntime')} | {per_round(model, figure, 'onnxruntime')} | "
                  + "".join(f"{ratio(model, figure, 'onnxruntime', fw)} | " for fw, _ in precisions)
                  + f"{ratio(model, figure, 'pytorch')} |")
        v, formats = values.get(("pytorch", model, figure), {}), torch_format.get((model, figure), {})
        if v:
            pick = min if latency(figure) else max
            best_round = pick(v, key=v.get)
            picks.append(f"{figure}: {formats.get(best_round, '?')}")
    md.append("")
    if picks:
        md += ["PyTorch's memory format in its best round: " + ", ".join(picks) + ".", ""]
note_lines = open(notes).read().splitlines()
if note_lines:
    md += ["Notes:", ""] + [f"- {n}" for n in note_lines] + [""]
summary_end = len(md)

md += ["## Appendix: every round", "",
       "| model | figure | framework | " + " | ".join(f"round {r}" for r in range(1, rounds + 1)) + " |",
       "|---|---|---|" + "---:|" * rounds]
for model in models:
    for figure in figures_of(model):
        for fw, fw_name in frameworks:
            v = values.get((fw, model, figure), {})
            md.append(f"| {model} | {figure} | {fw_name} | "
                      + " | ".join(fmt(v.get(r), figure) for r in range(1, rounds + 1)) + " |")
    for fw, fw_name in frameworks:
        if any((r, model, fw) in placement for r in range(1, rounds + 1)):
            cells = [placement.get((r, model, fw)) for r in range(1, rounds + 1)]
            md.append(f"| {model} | vCPUs before (hand-over) | {fw_name} | "
                      + " | ".join("—" if c is None else f"{c:.0f} ns ({'near' if c < 70 else 'far'})" for c in cells)
                      + " |")
if placement:
    md += ["", "vCPUs before: one cache-line hand-over between the two vCPUs just before that framework's figures "
           "(benchmarks/kernels/placement_probe.c): near, under 70 ns, they share a last-level cache; far, they don't, "
           "and Osprey's Winograd convolutions run slower (vcpu-placement-2026-12-05.md)."]
md += ["", "Raw lines:", "", "```"] + [l for l in lines if l.startswith(("ROUND", "RESULT", "INFO", "PROBE"))] + ["```"]
open(out, "w").write("\n".join(md) + "\n")
print("\n".join(md[:summary_end]))
PY
echo "written: $out" >&2
