#!/usr/bin/env bash
# Fuzzes each reader of untrusted bytes (the test command only replays their seeds): MINUTES per target, as rounds of
# 30 s (each test's maxDuration) that share the generated corpus in java/*/.cifuzz-corpus, so coverage carries over.
# A finding stops the script; Jazzer writes the input into the test's *Inputs resource folder, where every later
# `mvn test` replays it. Targets: IdxFuzzTest ModelFileFuzzTest ImageDecoderFuzzTest RequestDecoderFuzzTest.
# Usage: benchmarks/run-fuzz.sh [MINUTES per target, default 5] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-5}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(IdxFuzzTest ModelFileFuzzTest ImageDecoderFuzzTest RequestDecoderFuzzTest)
mvn -B -q -o -DskipTests install -pl java/serving -am >/dev/null 2>&1 || mvn -B -q -DskipTests install -pl java/serving -am
rounds=$(( minutes * 2 ))
module_of() { case "$1" in ImageDecoderFuzzTest) echo java/vision ;; RequestDecoderFuzzTest) echo java/serving ;; *) echo java/core ;; esac; }
for target in "${targets[@]}"; do
  for round in $(seq 1 "$rounds"); do
    echo "fuzz: $target, round $round of $rounds (30 s)" >&2
    if ! JAZZER_FUZZ=1 mvn -B -q -o surefire:test -pl "$(module_of "$target")" -Dtest="$target" -DfailIfNoTests=false \
        -Dosprey.jvm.flags="--enable-native-access=ALL-UNNAMED -Xmx1g" > "/tmp/osprey-fuzz-$target.log" 2>&1; then
      echo "fuzz: $target found something: see /tmp/osprey-fuzz-$target.log and the module's src/test/resources" >&2
      exit 1
    fi
  done
done
echo "fuzz: ${targets[*]}: $minutes minutes each, no findings" >&2
