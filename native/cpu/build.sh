#!/usr/bin/env bash
# Builds libospreycpu.so into OUT_DIR/<JavaCPP's platform name, e.g. linux-x86_64>: openmp_team.c (OpenMP team
# sizes), winograd.c (the Winograd 3x3 convolution; winograd_avx512.c compiles it again for AVX-512VL), conv_pool.c
# (a few-channel convolution with its max pooling; conv_pool8.c the same in int8), dense.c (inference dense layers),
# pointwise.c and depthwise.c (1x1 and depthwise convolutions over few pixels), op_chain.c (their passes chained in
# one parallel region), batch_norm.c (batch normalization while training, with a capped or plain ReLU fused),
# max_pool8.c (max pooling of 8-bit activations in int8 plans), finite_scan.c (the NaN and infinity check of predict's
# inputs), channel_gate.c (Multiply's channel gates), depthwise_filter_gradient.c (depthwise kernel gradients). The
# Maven build of java/core calls this on Linux.
# Where no C compiler, no jni.h or no libgomp to link is found, or the compile fails, it says so and exits 0: the jar
# is then built without it, and the CPU backend runs every primitive on the whole OpenMP team and every convolution
# through oneDNN (it logs why, once).
# Usage: native/cpu/build.sh OUT_DIR JAVA_HOME
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUT_DIR JAVA_HOME}"
java_home="${2:?usage: build.sh OUT_DIR JAVA_HOME}"
not_built() {
  echo "osprey native CPU library: NOT BUILT - $1; small oneDNN primitives will use every OpenMP thread, and 3x3 convolutions oneDNN's direct kernels"
  exit 0
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  *) not_built "$(uname -s) $(uname -m) is not a platform it is built for (Linux x86-64 or arm64)" ;;
esac
cc="${CC:-$(command -v gcc || command -v cc || true)}"
[ -n "$cc" ] || not_built "no C compiler (gcc or cc) on PATH (Debian/Ubuntu: apt-get install gcc libc6-dev)"
include=""
for candidate in "$java_home/include" "$java_home/../include"; do
  if [ -f "$candidate/jni.h" ]; then include="$candidate"; break; fi
done
[ -n "$include" ] || not_built "jni.h not found under $java_home (a JDK, not a JRE, builds it)"
mkdir -p "$out/$platform"
rm -f "$out/$platform/libospreyopenmp.so" # the library's earlier name
lib="$out/$platform/libospreycpu.so"
# $cc unquoted: CC may name a wrapper and its compiler ("ccache gcc"). -fopenmp compiles winograd.c's parallel
# region into libgomp calls; the link names libgomp by soname (see openmp_team.c). AVX2 code is enabled per function.
# shellcheck disable=SC2086
if log="$($cc -O3 -std=gnu99 -Wall -Wextra -fopenmp -shared -fPIC -I"$include" -I"$include/linux" \
    -DOSPREY_WINOGRAD_HAS_AVX512_COPY -o "$lib" "$here/openmp_team.c" "$here/winograd.c" "$here/winograd_avx512.c" \
    "$here/conv_pool.c" "$here/conv_pool8.c" "$here/dense.c" \
    "$here/pointwise.c" "$here/depthwise.c" "$here/op_chain.c" "$here/batch_norm.c" "$here/max_pool8.c" \
    "$here/finite_scan.c" "$here/channel_gate.c" "$here/depthwise_filter_gradient.c" \
    -l:libgomp.so.1 -lm 2>&1)" \
    && ! { command -v readelf >/dev/null && readelf -d "$lib" | grep -q 'NEEDED.*lib\(i\)\?omp'; }; then
  echo "osprey native CPU library: built into $lib"
  exit 0
fi
# a compiler whose -fopenmp fails, or means another OpenMP runtime than oneDNN's libgomp (clang's libomp): the team
# functions alone, and every convolution through oneDNN
why="${log:-its -fopenmp links another OpenMP runtime than libgomp}"
# shellcheck disable=SC2086
if ! log="$($cc -O2 -std=c99 -Wall -Wextra -shared -fPIC -I"$include" -I"$include/linux" \
    -o "$lib" "$here/openmp_team.c" -l:libgomp.so.1 2>&1)"; then
  rm -f "$lib"
  not_built "the compile failed: $(tr '\n' ' ' <<<"$log")"
fi
echo "osprey native CPU library: built into $lib WITHOUT its convolution kernels ($(tr '\n' ' ' <<<"$why" | cut -c1-300)); convolutions run through oneDNN"
