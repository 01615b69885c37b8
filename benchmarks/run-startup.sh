#!/usr/bin/env bash
# Start-up: wall time from `java` start to the first prediction printed, for a saved model and one PNG, ROUNDS
# times each (median and range; warm native cache: every run after the first finds oneDNN and OpenCV unpacked).
#   osprey-tutorial:  ./osprey predict tutorial.osprey shoe.png (28x28 grey)
#   osprey-resnet20:  ./osprey predict resnet20.osprey rgb.png   (ResNet-20 at 32x32x3)
#   onnxruntime-resnet20: ONNX Runtime for Java 1.23.2, the same architecture exported from PyTorch, the PNG decoded
#                     with ImageIO (benchmarks/src/.../StartupPeer.java)
# Peers measured by the hardening issue on this kind of machine: DJL 0.71-1.30 s, TF-Java 0.92-0.97 s.
# Writes benchmarks/results/startup-<time>.md. Usage: benchmarks/run-startup.sh [ROUNDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
mvn -B -q -o -DskipTests package -pl benchmarks -am >/dev/null 2>&1 || mvn -B -q -DskipTests package -pl benchmarks -am
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp="benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:benchmarks/target/lib/*"
java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.StartupPeer prepare "$work" >&2
/usr/bin/python3 benchmarks/peers/pytorch_models.py export resnet20 "$work/resnet20.onnx" >&2  # Debian's python3-torch and python3-onnx

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
declare -A times
./osprey predict "$work/tutorial.osprey" "$work/shoe.png" >/dev/null 2>&1  # builds the jar and fills the caches once
for _ in $(seq 1 "$rounds"); do
  times[osprey-tutorial]+="$(ms ./osprey predict "$work/tutorial.osprey" "$work/shoe.png") "
  times[osprey-resnet20]+="$(ms ./osprey predict "$work/resnet20.osprey" "$work/rgb.png") "
  times[onnxruntime-resnet20]+="$(ms java --enable-native-access=ALL-UNNAMED -cp "$cp" dev.osprey.bench.StartupPeer \
    predict "$work/resnet20.onnx" "$work/rgb.png") "
done
out="benchmarks/results/startup-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# Start-up to the first prediction, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Wall time from \`java\` start to the first prediction printed, $rounds rounds interleaved, $(nproc) cores."
  echo
  echo "| run | median ms | min ms | max ms | all |"
  echo "|---|---|---|---|---|"
  for k in osprey-tutorial osprey-resnet20 onnxruntime-resnet20; do
    sorted=$(tr ' ' '\n' <<<"${times[$k]}" | grep -v '^$' | sort -n | tr '\n' ' ')
    n=$(wc -w <<<"$sorted")
    med=$(awk -v n="$n" '{print $(int((n + 1) / 2))}' <<<"$sorted")
    echo "| $k | $med | $(awk '{print $1}' <<<"$sorted") | $(awk '{print $NF}' <<<"$sorted") | $sorted|"
  done
} >"$out"
cat "$out"
