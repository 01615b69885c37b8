#!/usr/bin/env bash
# Runs on a GPU host, from the bundle make-bundle.sh built: the GPU test suite (a missing GPU fails it rather than
# skipping), then the GPU benchmark beside PyTorch on the same GPU (eager and torch.compile) when the host has it.
# Results go to RESULTS_DIR. Finds CUDA 13 / cuDNN 9 in LD_LIBRARY_PATH, /usr/local/cuda, and NVIDIA's Python wheels.
# Given a folder with the four Fashion-MNIST IDX .gz files, it also trains the tutorial model on the full set on the
# GPU (tutorial settings: 10 epochs, batch 32, Adam) and logs it to RESULTS_DIR/fashion-mnist-full-gpu.txt.
# Usage: run-gpu.sh RESULTS_DIR [seconds-per-figure=5] [FASHION_MNIST_DIR]
# OSPREY_GPU_PHASES picks what runs, in this order (unset: all three; empty: none, for the Fashion-MNIST run alone):
# tests (the GPU suites), graph (ResNet-20 and MobileNetV2 in fp32, fp16 and bf16 beside PyTorch), tutorial (the
# tutorial CNN beside PyTorch eager and torch.compile). At 5 s a figure all three take about 10 minutes; split them
# over calls where one call is limited. The exit status is non-zero when a suite fails or an Osprey run fails.
set -uo pipefail
phases=" ${OSPREY_GPU_PHASES-tests graph tutorial} "
for phase in $phases; do
  case "$phase" in tests|graph|tutorial) ;; *) echo "run-gpu.sh: unknown phase '$phase' in OSPREY_GPU_PHASES (expected tests, graph or tutorial)" >&2; exit 2 ;; esac
done
runs() { [[ "$phases" == *" $1 "* ]]; }
failed=0 # Osprey runs outside the suites that exited non-zero
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
results="${1:?usage: run-gpu.sh RESULTS_DIR [seconds]}"
seconds="${2:-5}"
fashion="${3:-}"
mkdir -p "$results"

libs="${LD_LIBRARY_PATH:-}"
# NVIDIA's wheels install `nvidia` as a namespace package (no __init__.py, so no __file__): every entry of its
# __path__ holds a folder per library (cu13, cudnn, cublas, nccl, ...), each with its lib/
dirs=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib)
while IFS= read -r wheel; do
  [ -n "$wheel" ] && dirs+=("$wheel"/*/lib)
done < <(python3 -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null || true)
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] && libs="${libs:+$libs:}$dir"
done
export LD_LIBRARY_PATH="$libs"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | tee "$results/environment.txt"
cudnn=""
IFS=: read -ra searched <<< "$LD_LIBRARY_PATH"
for dir in "${searched[@]}"; do
  for lib in "$dir"/libcudnn.so.9*; do [ -e "$lib" ] && cudnn="$lib" && break 2; done
done
if [ -z "$cudnn" ]; then # the backend would say "cuDNN could not be loaded" in every suite: say where we looked
  echo "run-gpu.sh: no libcudnn.so.9 in LD_LIBRARY_PATH ($LD_LIBRARY_PATH); install nvidia-cudnn-cu13 or set" \
      "LD_LIBRARY_PATH to its lib folder" | tee -a "$results/environment.txt" >&2
else
  echo "cuDNN: $cudnn" | tee -a "$results/environment.txt"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> "$results/environment.txt" 2>&1 || true

if [ ! -x "$here/runtime/bin/java" ]; then # the bundle carries the Java runtime packed (make-bundle.sh)
  if ! tar -C "$here" -xzf "$here/runtime.tar.gz"; then
    echo "run-gpu.sh: could not unpack the Java runtime from $here/runtime.tar.gz" >&2
    exit 2
  fi
fi
java=("$here/runtime/bin/java" --enable-native-access=ALL-UNNAMED -Dosprey.test.requireGpu=true)
tests=0
if runs tests; then
"${java[@]}" -jar "$here"/lib/junit-platform-console-standalone-*.jar execute \
    --class-path "$(printf '%s:' "$here"/lib/*.jar)" \
    --select-class dev.osprey.backend.CudaBackendContractTest \
    --select-class dev.osprey.backend.DeviceChoiceTest \
    --select-class dev.osprey.GpuTrainingTest \
    --select-class dev.osprey.GpuOptimizerFeaturesTest \
    --select-class dev.osprey.CpuGpuAgreementTest \
    --select-class dev.osprey.GpuBatchInvarianceTest \
    --select-class dev.osprey.engine.GpuGradientArenaTest \
    --select-class dev.osprey.backend.cuda.ByteCodesTest \
    --select-class dev.osprey.backend.cuda.NcclCommunicatorTest \
    --reports-dir "$results/junit" 2>&1 | tee "$results/gpu-tests.txt"
tests=${PIPESTATUS[0]}
fi

if [ -n "$fashion" ]; then
  "${java[@]}" -cp "$(printf '%s:' "$here"/lib/*.jar)" dev.osprey.cli.OspreyCommand train --dataset fashion-mnist \
      --data-dir "$fashion" --device cuda --epochs 10 --batch-size 32 -o "$results/fashion-mnist-gpu.osprey" \
      2>&1 | tee "$results/fashion-mnist-full-gpu.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
fi

if runs graph; then
for model in resnet20 mobilenetv2; do # graph models: the same figures as the CPU peer benchmark, on the GPU
  "${java[@]}" -cp "$(printf '%s:' "$here"/lib/*.jar)" dev.osprey.bench.GraphModelThroughput "$model" "$seconds" cuda \
      2>&1 | tee "$results/osprey-gpu-$model.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
  # mixed_float16 training (fp16 products, dynamic loss scaling) and fp16 inference, beside PyTorch's autocast +
  # GradScaler below; mixed_bfloat16 training and bf16 inference, beside PyTorch's bf16 autocast
  for precision in fp16 bf16; do
    "${java[@]}" -cp "$(printf '%s:' "$here"/lib/*.jar)" dev.osprey.bench.GraphModelThroughput "$model" "$seconds" \
        cuda "$precision" 2>&1 | tee "$results/osprey-gpu-$model-$precision.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
  done
done
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  for model in resnet20 mobilenetv2; do
    for precision in fp32 fp16 bf16; do
      for mode in gpu-train gpu-infer; do
        python3 "$here/peers/pytorch_models.py" "$mode" "$model" "$seconds" "$precision" 2>&1 \
            | tee -a "$results/pytorch-gpu-$model-$precision.txt"
      done
    done
  done
fi
# The graph models' figures side by side: Osprey (fp32, mixed_float16, mixed_bfloat16) and PyTorch (fp32, autocast
# fp16 and bf16).
python3 - "$results" <<'PY' | tee "$results/graph-models-gpu.txt"
import collections, glob, os, sys
d = sys.argv[1]
table = collections.defaultdict(dict)  # (model, figure) -> {framework: value}
for path in glob.glob(os.path.join(d, "osprey-gpu-*.txt")) + glob.glob(os.path.join(d, "pytorch-gpu-*-*.txt")):
    for line in open(path, errors="replace"):
        parts = line.split()
        if len(parts) == 5 and parts[0] == "RESULT":
            table[(parts[2], parts[3])][parts[1]] = float(parts[4])
frameworks = ["osprey", "osprey-fp16", "osprey-bf16", "pytorch-fp32", "pytorch-fp16", "pytorch-bf16"]
print("model figure " + " ".join(frameworks) + "  (images/s, or ms for latency; blank: not measured)")
for (model, figure), row in sorted(table.items()):
    print(model, figure, " ".join(f"{row[f]:.3f}" if f in row else "-" for f in frameworks))
PY
fi
if runs tutorial; then
"${java[@]}" -cp "$(printf '%s:' "$here"/lib/*.jar)" dev.osprey.bench.ModelThroughput "$seconds" cuda 1024 \
    2>&1 | tee "$results/osprey-gpu.json"
[ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  # The same real images Osprey measured on: the sample inside osprey-core's jar.
  data="$(mktemp -d)"
  python3 - "$here"/lib/osprey-core-0.1.0-SNAPSHOT.jar "$data" <<'PY'
import sys, zipfile
jar, out = sys.argv[1:3]
with zipfile.ZipFile(jar) as z:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with open(f"{out}/{name}", "wb") as f:
            f.write(z.read(f"dev/osprey/data/fashion-mnist-sample/{name}"))
PY
  for mode in eager compile; do
    python3 "$here/peers/pytorch_cnn.py" "$data/t10k-images-idx3-ubyte.gz" "$data/t10k-labels-idx1-ubyte.gz" \
        "$seconds" 16 cuda "$mode" 1024 2>&1 | tee "$results/pytorch-gpu-$mode.json"
  done
  # Ratios, as the CPU script prints them: Osprey against each PyTorch mode on this GPU.
  python3 - "$results" <<'PY' | tee "$results/ratios.txt"
import glob, json, os, sys
d = sys.argv[1]
def load(path):
    for line in open(path):
        if line.startswith("{"):
            return json.loads(line)
osprey = load(os.path.join(d, "osprey-gpu.json"))
for path in sorted(glob.glob(os.path.join(d, "pytorch-gpu-*.json"))):
    peer = load(path)
    if not osprey or not peer:
        continue
    print(f"Osprey vs {peer['framework']} ({peer['backend']}):")
    for key in osprey:
        if key in peer and isinstance(osprey[key], (int, float)):
            better = osprey[key] / peer[key] if "img_s" in key else peer[key] / osprey[key]
            print(f"  {key:24s} osprey {osprey[key]:12.3f}  peer {peer[key]:12.3f}  osprey advantage {better:.2f}x")
PY
else
  echo "no PyTorch with CUDA on this host: PyTorch rows skipped" | tee "$results/pytorch-gpu.txt"
fi
fi
if [ "$tests" -ne 0 ]; then exit "$tests"; fi
exit "$failed"
