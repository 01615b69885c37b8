#!/usr/bin/env bash
# Builds the CUDA kernels into fatbins under OUT_DIR (the Maven build calls this). Where nvcc or CMake is
# missing it says exactly what is missing and exits 0: the jar is then built without kernels and the CUDA
# backend reports "kernels not built" instead of loading.
# Usage: native/build.sh OUT_DIR BUILD_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUT_DIR BUILD_DIR}"
build="${2:?usage: build.sh OUT_DIR BUILD_DIR}"

nvcc_bin="$(command -v nvcc || true)"
for candidate in "${CUDACXX:-}" /usr/local/cuda/bin/nvcc; do
  if [ -z "$nvcc_bin" ] && [ -n "$candidate" ] && [ -x "$candidate" ]; then nvcc_bin="$candidate"; fi
done
if [ -z "$nvcc_bin" ]; then
  echo "osprey kernels: NOT BUILT - nvcc not found on PATH, in \$CUDACXX or at /usr/local/cuda/bin/nvcc (install the CUDA 13 toolkit to build them)"
  exit 0
fi
if ! command -v cmake >/dev/null 2>&1; then
  echo "osprey kernels: NOT BUILT - cmake not found on PATH (install cmake 3.25 or newer)"
  exit 0
fi
cmake -S "$here" -B "$build" -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DOSPREY_KERNEL_OUTPUT_DIR="$out" >/dev/null
cmake --build "$build" -j 2
# The module list the CUDA backend loads (every fatbin built from this tree, none left over from an older one).
(cd "$here" && ls *.cu | sed 's/\.cu$//') > "$out/modules.txt"
for module in $(cat "$out/modules.txt"); do
  [ -f "$out/$module.fatbin" ] || { echo "osprey kernels: $module.fatbin was not built" >&2; exit 1; }
done
echo "osprey kernels: built with $("$nvcc_bin" --version | tail -1) into $out: $(cd "$out" && ls *.fatbin | tr '\n' ' ')"
