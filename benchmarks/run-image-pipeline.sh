#!/usr/bin/env bash
# The image pipeline: decode + resize + augment images/s per worker (64x64 and 224x224 targets from 256x256
# JPEGs), and the share of time the trainer waits for data when the tutorial model trains from a PNG folder with
# 2 workers. Writes a table under benchmarks/results/. Usage: benchmarks/run-image-pipeline.sh [seconds=3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-3}"
(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am)
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.ImagePipelineBenchmark "$seconds" | tee "$work/decode.jsonl"
java -cp "$cp" dev.osprey.bench.ExportSampleImages "$work/images" 8000
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" "$root/osprey" train --images "$work/images" --epochs 3 --rotation 10 \
  --shift 0.1 --flip horizontal --workers 2 -o "$work/model.osprey" | tee "$work/train.log"
out="$root/benchmarks/results/image-pipeline-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$work/decode.jsonl" "$work/train.log" "$out" <<'PY'
import json, subprocess, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
train = [l.rstrip() for l in open(sys.argv[2]) if "data wait" in l or l.startswith("Trained") or l.startswith("Validation")]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
lines = ["# Image pipeline: decoding throughput, and how long training waits for data", "",
         f"- machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} vCPU; OpenCV 4.13 through JavaCPP",
         "- command: `benchmarks/run-image-pipeline.sh`", "",
         "Decode + resize + augment (rotation 15 deg, zoom 0.1, shift 0.1, horizontal flip), RGB:", "",
         "| source | target | workers | images/s | images/s per worker |", "|---|---|---:|---:|---:|"]
for r in rows:
    lines.append(f"| {r['source']} | {r['target']} | {r['workers']} | {r['images_per_s']:,} | {r['images_per_s_per_worker']:,} |")
lines += ["", "Training the tutorial CNN from 8,000 PNGs in class folders, 2 decoding workers, rotation/shift/flip "
          "augmentation (`osprey train --images DIR --workers 2 ...`):", "", "```"] + train + ["```"]
open(sys.argv[3], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
