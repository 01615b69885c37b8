#!/usr/bin/env bash
# Transfer learning from the command line, end to end, on real images: the Fashion-MNIST CNN that PyTorch trained and
# exported to ONNX (java/onnx/src/test/resources/.../fixtures/fmnist_cnn, made by benchmarks/onnx/make_fixtures.py) is
# imported, checked against PyTorch's outputs, fine-tuned with a new head on a folder of PNGs (the bundled sample
# written out as class folders) with the base frozen, then used to predict images. Writes the transcript under
# benchmarks/results/onnx-finetune-<UTC time>.md. Needs the osprey-onnx module (Debian's libonnx-dev).
# Usage: benchmarks/run-onnx-finetune.sh [epochs=3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
epochs="${1:-3}"
fixture="$root/java/onnx/src/test/resources/dev/osprey/onnx/fixtures/fmnist_cnn"
(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am)
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log="$work/log"
step() {  # step TITLE COMMAND...: runs a command, echoing it and its output into the transcript
  local title="$1"; shift
  { echo; echo "## $title"; echo; echo '```'; echo "\$ $*" | sed "s#$work#WORK#g; s#$root/##g"; } >>"$log"
  "$@" 2>&1 | sed "s#$work#WORK#g; s#$root/##g" | tee -a "$log"
  echo '```' >>"$log"
}
java -cp "$cp" dev.osprey.bench.ExportSampleImages "$work/images" 4000 >/dev/null
mkdir -p "$work/new"
for class in "$work"/images/*/; do  # one image per class folder to predict (it stays in the training folder too)
  name="$(basename "$class")"
  cp "$(ls "$class" | tail -1 | sed "s#^#$class#")" "$work/new/$name.png"
done
step "1. Import the PyTorch export and check it against PyTorch's outputs" \
  "$root/osprey" import "$fixture/model.onnx" -o "$work/base.osprey" --verify "$fixture/test_data_set_0"
step "2. Fine-tune: new head on the frozen imported base, on $(find "$work/images" -name '*.png' | wc -l) PNGs" \
  "$root/osprey" finetune "$fixture/model.onnx" --images "$work/images" --image-size 28x28 --color gray \
  --epochs "$epochs" --batch-size 64 -o "$work/finetuned.osprey"
step "3. Predict new images with the fine-tuned model" "$root/osprey" predict "$work/finetuned.osprey" "$work/new"
step "4. Export the fine-tuned model back to ONNX" "$root/osprey" export "$work/finetuned.osprey" "$work/finetuned.onnx"
out="$root/benchmarks/results/onnx-finetune-$(date -u +%Y-%m-%dT%H%MZ).md"
{ echo "# ONNX import -> fine-tune -> predict -> export, from the command line"; echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) vCPU"
  echo "- command: \`benchmarks/run-onnx-finetune.sh $epochs\`"
  echo "- base: the Fashion-MNIST CNN trained 2 epochs in PyTorch and exported with torch.onnx.export"
  echo "  (benchmarks/onnx/make_fixtures.py); images: 4,000 of the bundled Fashion-MNIST sample written as PNG class folders"
  cat "$log"; } >"$out"
echo "written: $out"
