#!/usr/bin/env bash
# Builds libospreyopenmp.so (openmp_team.c) into OUT_DIR/<JavaCPP's platform name, e.g. linux-x86_64>; the Maven
# build of java/core calls this. Where no C compiler
# or no jni.h is found it says what is missing and exits 0: the jar is then built without it, and the CPU backend
# runs every primitive on the whole OpenMP team (it says so once, with this reason).
# Usage: native/cpu/build.sh OUT_DIR JAVA_HOME
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUT_DIR JAVA_HOME}"
java_home="${2:?usage: build.sh OUT_DIR JAVA_HOME}"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  *) echo "osprey openmp helper: NOT BUILT - $(uname -s) $(uname -m) is not a platform it is built for (Linux x86-64 or arm64)"
     exit 0 ;;
esac
cc="${CC:-$(command -v gcc || command -v cc || true)}"
if [ -z "$cc" ]; then
  echo "osprey openmp helper: NOT BUILT - no C compiler (gcc or cc) on PATH; small primitives will use every thread"
  exit 0
fi
include=""
for candidate in "$java_home/include" "$java_home/../include"; do
  if [ -f "$candidate/jni.h" ]; then include="$candidate"; break; fi
done
if [ -z "$include" ]; then
  echo "osprey openmp helper: NOT BUILT - jni.h not found under $java_home (a JDK, not a JRE, builds it)"
  exit 0
fi
out="$out/$platform"
mkdir -p "$out"
"$cc" -O2 -std=c99 -Wall -Wextra -Werror -shared -fPIC -I"$include" -I"$include/linux" \
  -o "$out/libospreyopenmp.so" "$here/openmp_team.c" -ldl
echo "osprey openmp helper: built into $out/libospreyopenmp.so"
