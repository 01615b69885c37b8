#!/usr/bin/env bash
# Osprey and PyTorch side by side on this CPU: the tutorial CNN, the same real images, 2 threads each, run
# alternately (ROUNDS rounds), best round of each kept. Prints a table and writes it under benchmarks/results/.
# Needs Debian's python3-torch and libopenblas0-openmp (installed here if missing, when run as root).
# Usage: benchmarks/run-cpu-vs-pytorch.sh [seconds-per-figure=5] [rounds=2]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-5}"
rounds="${2:-2}"
threads=2
results="$root/benchmarks/results"
sample="$root/java/core/src/main/resources/dev/osprey/data/fashion-mnist-sample"
python=/usr/bin/python3   # Debian's interpreter, where python3-torch lives

if ! "$python" -c 'import torch' 2>/dev/null || ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp
  else
    echo "needs: sudo apt-get install python3-torch libopenblas0-openmp" >&2; exit 1
  fi
fi

(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am)
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"

export OMP_NUM_THREADS=$threads
mkdir -p "$results"
log="$(mktemp)"
for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds: osprey" >&2
  java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.ModelThroughput "$seconds" | tee -a "$log" >&2
  echo "round $r/$rounds: pytorch" >&2
  # glibc may re-map large buffers every step in torch at batch 256; these settings give torch its best figure.
  MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \
    "$python" "$root/benchmarks/peers/pytorch_cnn.py" "$sample/t10k-images-idx3-ubyte.gz" \
    "$sample/t10k-labels-idx1-ubyte.gz" "$seconds" "$threads" | tee -a "$log" >&2
done

stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="$results/cpu-vs-pytorch-$stamp.md"
"$python" - "$log" "$out" "$seconds" "$rounds" <<'PY'
import json, platform, subprocess, sys
log, out, seconds, rounds = sys.argv[1:5]
runs = [json.loads(l) for l in open(log) if l.startswith("{")]
best = {}
figures = [("train_b32_img_s", "training, batch 32 (images/s)", max),
           ("train_b256_img_s", "training, batch 256 (images/s)", max),
           ("infer_b256_img_s", "inference, batch 256 (images/s)", max),
           ("latency_b1_median_ms", "batch-1 latency, median (ms)", min),
           ("latency_b1_p99_ms", "batch-1 latency, p99 (ms)", min)]
for fw in ("osprey", "pytorch"):
    rs = [r for r in runs if r["framework"] == fw]
    best[fw] = {k: pick(r[k] for r in rs) for k, _, pick in figures}
    best[fw]["backend"] = rs[-1]["backend"]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
lines = [f"# Osprey vs PyTorch on the CPU: the tutorial CNN, {rounds} alternating rounds, best of each", "",
         f"- machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} vCPU, {platform.platform()}",
         f"- Osprey: {best['osprey']['backend']}",
         f"- PyTorch: {best['pytorch']['backend']}",
         f"- data: the bundled real Fashion-MNIST images; {seconds} s per figure per round; 2 threads each",
         "- command: `benchmarks/run-cpu-vs-pytorch.sh " + seconds + " " + rounds + "`", "",
         "| figure | Osprey | PyTorch | Osprey advantage |", "|---|---:|---:|---:|"]
ahead = True
for k, name, pick in figures:
    o, p = best["osprey"][k], best["pytorch"][k]
    ratio = o / p if pick is max else p / o
    ahead &= ratio > 1
    fmt = "{:,.0f}" if pick is max else "{:.3f}"
    lines.append(f"| {name} | {fmt.format(o)} | {fmt.format(p)} | {ratio:.2f}x |")
lines += ["", "Osprey is ahead on every figure." if ahead else "Osprey is NOT ahead on every figure.", "",
          "Raw runs:", "", "```"] + [json.dumps(r) for r in runs] + ["```"]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines[:16]))
PY
echo "written: $out" >&2
