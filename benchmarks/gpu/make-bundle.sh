#!/usr/bin/env bash
# Builds a self-contained folder for a Linux x86-64 GPU host with no Java and no network: a jlink'd Java 17
# runtime, Osprey's jar (kernels inside), the CUDA binding jars, the GPU tests and the GPU benchmark. It uses
# the host's CUDA 13 runtime, cuBLAS 13 and cuDNN 9. The Java runtime travels packed (runtime.tar.gz, 39 MiB
# unpacked; run-gpu.sh unpacks it), so that the bundle, about 39 MiB, and the tracked tree (14.5 MiB) fit the device
# tool's 64 MiB a call. Must stay under 48 MiB (checked at the end; lower it if the tree grows).
# Usage: benchmarks/gpu/make-bundle.sh OUT_DIR        then on the GPU host: OUT_DIR/run-gpu.sh RESULTS_DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:?usage: make-bundle.sh OUT_DIR}"
limit_mib=48

rm -rf "$out"
mkdir -p "$out/lib" "$out/peers"
(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am)
(cd "$root" && mvn -B -q -Dstyle.color=never test-compile -pl java/core,java/cuda)
(cd "$root" && mvn -B -q -Dstyle.color=never dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 \
    -DoutputDirectory="$out/lib")

jar --create --file "$out/lib/osprey-tests.jar" -C "$root/java/core/target/test-classes" . \
    -C "$root/java/cuda/target/test-classes" .
cp "$root"/java/cli/target/lib/osprey-{core,cuda}-0.1.0-SNAPSHOT.jar "$root/java/cli/target/osprey-cli-0.1.0-SNAPSHOT.jar" \
    "$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar" "$out/lib/"
# The CUDA path needs JavaCPP, the CUDA bindings, picocli, Jackson (model files) and SLF4J; oneDNN's 90 MB stay
# behind (no CPU backend here).
for jar in "$root"/java/cli/target/lib/{javacpp,cuda,picocli,jackson-core,slf4j-api,slf4j-simple}-*.jar; do cp "$jar" "$out/lib/"; done

jlink --add-modules java.base,java.logging,java.management,java.net.http,java.xml,jdk.unsupported,jdk.httpserver \
    --strip-debug --no-header-files --no-man-pages --compress=2 --output "$out/runtime"
tar -C "$out" -czf "$out/runtime.tar.gz" runtime && rm -rf "$out/runtime" # gzip: every host unpacks it

# The PyTorch peer's images are the sample inside Osprey's jar; run-gpu.sh extracts them (no second copy here).
cp "$root/benchmarks/peers/pytorch_cnn.py" "$root/benchmarks/peers/pytorch_models.py" "$out/peers/"
cp "$root/benchmarks/gpu/run-gpu.sh" "$out/"
chmod +x "$out/run-gpu.sh"

size_mib=$(( $(du -sb "$out" | cut -f1) / 1048576 ))
echo "bundle: $out, ${size_mib} MiB"
if [ "$size_mib" -ge "$limit_mib" ]; then
  echo "bundle is ${size_mib} MiB, over the ${limit_mib} MiB limit" >&2
  exit 1
fi
