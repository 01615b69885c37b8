#!/usr/bin/env bash
# Which of torchvision's classifiers a PyTorch user can bring into Osprey: each is exported to ONNX
# (benchmarks/onnx/torchvision_zoo.py), imported with `osprey import --verify` against PyTorch's output, and the result
# (or the first refusal, verbatim) written as a table to benchmarks/results/torchvision-import-<UTC time>.md.
# Needs Debian's python3-torch, python3-torchvision and python3-onnx; about 5 minutes and 6 GB at most (VGG-11).
# Usage: benchmarks/run-torchvision-import.sh [NAME ...]   (work files in ${ZOO_DIR:-/tmp/osprey-zoo})
set -euo pipefail
cd "$(dirname "$0")/.."
zoo=${ZOO_DIR:-/tmp/osprey-zoo}
stamp=$(date -u +%Y-%m-%dT%H%MZ)
out=benchmarks/results/torchvision-import-$stamp.md
mkdir -p "$zoo"
/usr/bin/python3 benchmarks/onnx/torchvision_zoo.py "$zoo" "$@" | tee "$zoo.export.log"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    mapfile -t names < <(/usr/bin/python3 -c 'import sys; sys.path.insert(0, "benchmarks/onnx"); import torchvision_zoo as z; print("\n".join(z.MODELS))')
fi
./osprey --version >/dev/null 2>&1 || true # builds the launcher's jar once, before any timing
{
    echo "# torchvision classifiers through ONNX into Osprey ($stamp)"
    echo
    echo "torch $(/usr/bin/python3 -c 'import torch, torchvision; print(torch.__version__ + ", torchvision " + torchvision.__version__)'),"
    echo "Osprey $(git rev-parse --short HEAD). Random weights, eval mode, default opset; \`osprey import --verify\`"
    echo "checks PyTorch's output for one 224x224 image (299 for Inception v3): the largest error relative to the outputs' scale."
    echo
    echo "| model | result | import time |"
    echo "|---|---|---|"
} >"$out"
for n in "${names[@]}"; do
    if [ ! -f "$zoo/$n.onnx" ]; then
        echo "| $n | not exported (see $zoo.export.log) | |" >>"$out"
        continue
    fi
    if log=$(timeout 600 ./osprey import "$zoo/$n.onnx" -o "$zoo/$n.osprey" --verify "$zoo/$n/test_data_set_0" 2>&1); then
        verified=$(grep -o 'largest error [^ ]*' <<<"$log" || true)
        seconds=$(grep -o 'in [0-9.,]* s;' <<<"$log" | tr -d 'in s;' || true)
        echo "| $n | imports, matches PyTorch to ${verified#largest error } | ${seconds} s |" >>"$out"
    else
        reason=$(grep -v '^osprey: building\|^\[' <<<"$log" | tail -2 | tr '\n' ' ' | sed 's/osprey: error: //g; s/|/\\|/g')
        echo "| $n | refused or failed: $reason | |" >>"$out"
    fi
    rm -f "$zoo/$n.osprey"
    echo "$n done" >&2
done
echo "wrote $out"
