#!/usr/bin/env bash
# Osprey, PyTorch and ONNX Runtime side by side on this CPU: ResNet-20 and MobileNetV2 (alpha 1.0) at 32x32x3,
# 10 classes, 2 threads each, run interleaved (ROUNDS rounds; per round and model: Osprey, PyTorch, ONNX Runtime),
# best round of each kept. Figures: training images/s at batch 64 and 128, inference images/s at batch 256, batch-1
# latency median and p99 (ONNX Runtime: inference only). Writes a table under benchmarks/results/.
# Every side prints lines "RESULT <framework> <model> <figure> <value>"; this script collects them.
# Needs Debian's python3-torch, python3-torchvision, python3-onnx and libopenblas0-openmp (installed if missing,
# when run as root).
# Usage: benchmarks/run-graph-models-vs-peers.sh [seconds-per-figure=5] [rounds=3]
# MODELS="resnet20" measures only the models named (default: resnet20 mobilenetv2; also efficientnetb0 and
# mobilenetv3small, torchvision's without stochastic depth beside Osprey's built-ins).
# COMPUTE=device: Osprey hands each call to its device thread (a library's default) instead of computing on the caller.
# Before each framework's figures the script measures where the two vCPUs sit (benchmarks/kernels/placement_probe.c:
# a cache-line hand-over between them; needs gcc), and the report sets it beside each round's training figures.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/machine-name.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-5}"
rounds="${2:-3}"
threads=2
read -r -a models <<<"${MODELS:-resnet20 mobilenetv2}"
results="$root/benchmarks/results"
peers="$root/benchmarks/peers/pytorch_models.py"
python=/usr/bin/python3   # Debian's interpreter, where python3-torch lives
packages=(python3-torch python3-torchvision python3-onnx libopenblas0-openmp)

if ! "$python" -c 'import torch, torchvision, onnx' 2>/dev/null || ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
  else
    echo "needs: sudo apt-get install ${packages[*]}" >&2; exit 1
  fi
fi

(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
jar="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar"
cp="$jar:$root/benchmarks/target/lib/*"
# Osprey computes on the calling thread, as the command line does and as ONNX Runtime and PyTorch do (one calling
# thread here); COMPUTE=device hands every call to the CPU backend's device thread, a library's default.
compute="${COMPUTE:-caller}"
case "$compute" in caller) device_thread=false ;; device) device_thread=true ;;
  *) echo "COMPUTE: expected caller or device, received '$compute'" >&2; exit 2 ;; esac
export OSPREY_COMPUTE="$compute"
java=(java -Dosprey.cpu.deviceThread="$device_thread" --enable-native-access=ALL-UNNAMED -cp "$cp")

osprey=yes
if ! unzip -l "$jar" 'dev/osprey/bench/GraphModelThroughput.class' >/dev/null 2>&1; then
  osprey=no
  echo "note: dev.osprey.bench.GraphModelThroughput is not in $jar yet: measuring the peers only" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck source=benchmarks/placement-probe.sh
source "$root/benchmarks/placement-probe.sh"
build_placement_probe "$work"
for model in "${models[@]}"; do
  "$python" "$peers" export "$model" "$work/$model.onnx" >&2
done

export OMP_NUM_THREADS=$threads
log="$work/log"
notes="$work/notes"
touch "$log" "$notes"
for ((r = 1; r <= rounds; r++)); do
  for model in "${models[@]}"; do
    if [ "$osprey" = yes ]; then
      echo "round $r/$rounds, $model: osprey" >&2
      probe_placement "$r" "$model" osprey >>"$log"
      if ! "${java[@]}" dev.osprey.bench.GraphModelThroughput "$model" "$seconds" | tee -a "$log" >&2; then
        echo "round $r, $model: Osprey's GraphModelThroughput failed (exit ${PIPESTATUS[0]})" | tee -a "$notes" >&2
      fi
    fi
    echo "round $r/$rounds, $model: pytorch" >&2
    probe_placement "$r" "$model" pytorch >>"$log"
    # glibc may re-map large buffers every step in torch; these settings give torch its best figures.
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \
      "$python" "$peers" "$model" "$seconds" "$threads" | tee -a "$log" >&2
    echo "round $r/$rounds, $model: onnxruntime" >&2
    "${java[@]}" dev.osprey.bench.OrtPeer "$model" "$work/$model.onnx" "$seconds" "$threads" | tee -a "$log" >&2
  done
done
[ "$osprey" = yes ] || echo "Osprey's GraphModelThroughput was absent from the build: no Osprey figures." >>"$notes"

stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$results/graph-models-vs-peers-$stamp.md"
mkdir -p "$results"
cpu="$(machine_name)"
flags="$(lscpu | sed -n 's/^Flags: *//p')"
java_version="$(java -version 2>&1 | head -1)"
"$python" - "$log" "$notes" "$out" "$seconds" "$rounds" "$threads" "$cpu" "$flags" "$java_version" <<'PY'
import collections, os, platform, subprocess, sys
log, notes, out, seconds, rounds, threads, cpu, flags, java_version = sys.argv[1:10]
lines = open(log).read().splitlines()
values = collections.defaultdict(list)          # (framework, model, figure) -> one value per round
pytorch_format = collections.defaultdict(list)  # (model, figure) -> (value, better memory format) per round
info = {}
placement = {}  # (round, model, framework) -> cache-line hand-over ns between the vCPUs just before its figures
for line in lines:
    f = line.split()
    if len(f) == 5 and f[0] == "PROBE":
        placement[(int(f[1]), f[2], f[3])] = float(f[4].split("=", 1)[1])
    elif len(f) == 5 and f[0] == "RESULT":
        values[(f[1], f[2], f[3])].append(float(f[4]))
    elif line.startswith("INFO pytorch torch="):
        info["pytorch"] = line[len("INFO pytorch "):]
    elif line.startswith("INFO onnxruntime version="):
        info["onnxruntime"] = line[len("INFO onnxruntime "):]
    elif line.startswith("INFO osprey"):
        info["osprey"] = line[len("INFO osprey "):]
    elif line.startswith("INFO pytorch ") and " best=" in line:  # INFO pytorch MODEL FIGURE nchw=.. channels_last=.. best=..
        per_format = dict(w.split("=", 1) for w in f[4:])
        pytorch_format[(f[2], f[3])].append((float(per_format[per_format["best"]]), per_format["best"]))

figures = [("train_b64", "training, batch 64 (images/s)"), ("train_b128", "training, batch 128 (images/s)"),
           ("infer_b256", "inference, batch 256 (images/s)"), ("latency_p50_ms", "batch-1 latency, median (ms)"),
           ("latency_p99_ms", "batch-1 latency, p99 (ms)")]
frameworks = [("osprey", "Osprey"), ("pytorch", "PyTorch"), ("onnxruntime", "ONNX Runtime")]

def latency(figure):
    return figure.startswith("latency")

def best(fw, model, figure):
    v = values.get((fw, model, figure))
    return None if not v else (min(v) if latency(figure) else max(v))

def fmt(x, figure):
    return "—" if x is None else (f"{x:.3f}" if latency(figure) else f"{x:,.0f}")

def spread(fw, model, figure):
    v = values.get((fw, model, figure))
    return "—" if not v else f"{fmt(min(v), figure)}–{fmt(max(v), figure)}"

def ratio(model, figure, peer):
    o, p = best("osprey", model, figure), best(peer, model, figure)
    if o is None or p is None:
        return "—"
    return f"{(p / o if latency(figure) else o / p):.2f}x"

def paired(model, figure, peer):
    """Osprey against peer round by round (the two measured in the same minutes): worst-best (median)."""
    o, p = values.get(("osprey", model, figure)), values.get((peer, model, figure))
    if not o or not p or len(o) != len(p):  # a failed run leaves the rounds unpaired
        return "—"
    r = sorted((b / a if latency(figure) else a / b) for a, b in zip(o, p))
    mid = r[len(r) // 2] if len(r) % 2 else (r[len(r) // 2 - 1] + r[len(r) // 2]) / 2
    return f"{r[0]:.2f}–{r[-1]:.2f}x ({mid:.2f}x)"

def torch_format(model, figure):
    runs = pytorch_format.get((model, figure))
    if not runs:
        return "—"
    pick = min if latency(figure) else max
    return pick(runs)[1]

has = lambda flag: "yes" if flag in flags.split() else "no"
amx = [fl for fl in ("amx_tile", "amx_bf16", "amx_int8") if fl in flags.split()]
md = [f"# Osprey vs PyTorch vs ONNX Runtime on the CPU: {', '.join(dict.fromkeys(k[1] for k in values))}, best of {rounds} interleaved round(s)",
      "",
      f"- machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} vCPU, "
      f"avx512_bf16: {has('avx512_bf16')}, AMX: {', '.join(amx) if amx else 'no'}; {platform.platform()}",
      f"- Osprey: {info.get('osprey', 'no INFO line')}; {java_version}; compute on "
      f"{'the calling thread (-Dosprey.cpu.deviceThread=false)' if os.environ.get('OSPREY_COMPUTE') == 'caller' else 'the device thread (COMPUTE=device)'}",
      f"- PyTorch: {info.get('pytorch', 'not run')}; each figure measured in NCHW and channels_last, the better kept "
      "(column 'PyTorch format'); MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296",
      f"- ONNX Runtime (Java): {info.get('onnxruntime', 'not run')}; model exported from the PyTorch definition "
      "(opset 13), graph optimization ALL, sequential, inter-op 1; inference figures only",
      f"- data: seeded random normal 32x32x3 images, random labels of 10 classes; {seconds} s per figure per round; "
      f"{threads} threads each (OMP_NUM_THREADS={threads}, torch.set_num_threads({threads}), ORT intra-op {threads}); "
      "every inference figure includes a softmax over the logits",
      f"- command: `benchmarks/run-graph-models-vs-peers.sh {seconds} {rounds}`",
      "",
      "Best = highest images/s or lowest ms over the rounds; range = worst–best over the rounds. Ratios compare best "
      "figures and read >1 = Osprey ahead: Osprey/peer for images/s, **peer/Osprey for latency**. 'Per round' pairs "
      "each round's figures, measured minutes apart: worst–best over the rounds (median); the machine's speed moves "
      "between rounds, so these are steadier than the ratio of the best figures, which may come from different rounds.",
      ""]
for model in [m for m in dict.fromkeys(k[1] for k in values)]:  # every model measured, in the order run
    md += [f"## {model}", "",
           "| figure | Osprey | Osprey range | PyTorch | PyTorch range | PyTorch format | ONNX Runtime | ONNX Runtime range "
           "| Osprey vs PyTorch | per round | Osprey vs ONNX Runtime | per round |",
           "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for figure, name in figures:
        md.append(f"| {name} | {fmt(best('osprey', model, figure), figure)} | {spread('osprey', model, figure)} "
                  f"| {fmt(best('pytorch', model, figure), figure)} | {spread('pytorch', model, figure)} "
                  f"| {torch_format(model, figure)} "
                  f"| {fmt(best('onnxruntime', model, figure), figure)} | {spread('onnxruntime', model, figure)} "
                  f"| {ratio(model, figure, 'pytorch')} | {paired(model, figure, 'pytorch')} "
                  f"| {ratio(model, figure, 'onnxruntime')} | {paired(model, figure, 'onnxruntime')} |")
    md.append("")
    o64, o128 = values.get(("osprey", model, "train_b64"), []), values.get(("osprey", model, "train_b128"), [])
    p64, p128 = values.get(("pytorch", model, "train_b64"), []), values.get(("pytorch", model, "train_b128"), [])
    if placement and all(len(v) == int(rounds) for v in (o64, o128, p64, p128)):
        def where(r, fw):
            ns = placement.get((r, model, fw))
            return "—" if ns is None else f"{ns:.0f} ns ({'near' if ns < 70 else 'far'})"
        md += ["Training round by round, beside where the two vCPUs sat just before each framework's figures (one "
               "cache-line hand-over between them, benchmarks/kernels/placement_probe.c: near, under 70 ns, they share "
               "a last-level cache; far, they don't):", "",
               "| round | vCPUs before Osprey | Osprey b64 | Osprey b128 | vCPUs before PyTorch | PyTorch b64 "
               "| PyTorch b128 | Osprey/PyTorch b64 | b128 |",
               "|---:|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in range(int(rounds)):
            md.append(f"| {r + 1} | {where(r + 1, 'osprey')} | {o64[r]:,.0f} | {o128[r]:,.0f} | {where(r + 1, 'pytorch')} "
                      f"| {p64[r]:,.0f} | {p128[r]:,.0f} | {o64[r] / p64[r]:.2f}x | {o128[r] / p128[r]:.2f}x |")
        md.append("")
note_lines = open(notes).read().splitlines()
if note_lines:
    md += ["Notes:", ""] + [f"- {n}" for n in note_lines] + [""]
md += ["Raw lines:", "", "```"] + [l for l in lines if l.startswith(("RESULT", "INFO", "PROBE"))] + ["```"]
open(out, "w").write("\n".join(md) + "\n")
print("\n".join(md[:md.index("Raw lines:")]))
PY
echo "written: $out" >&2
