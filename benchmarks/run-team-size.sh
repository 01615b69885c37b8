#!/usr/bin/env bash
# Small primitives on fewer OpenMP threads (the CPU backend's TeamSize) against every primitive on the whole team
# (-Dosprey.cpu.minMicrosPerThread=0), interleaved, several rounds: each model's batch-1 latency (median and p99) and
# batch-256 images/s, through run-cpu-setting-ab.sh. Writes benchmarks/results/team-size-<UTC time>.md. OpenMP's wait
# policy decides much of batch-1 latency: run it as it is (threads spin 300,000 times before they sleep), with
# GOMP_SPINCOUNT=20000 (what ./osprey serve sets) and with OMP_WAIT_POLICY=PASSIVE (threads sleep at once: the test
# command's setting); the report names the one it ran with.
# Usage: benchmarks/run-team-size.sh [seconds-per-figure=3] [rounds=4] [models: tutorial resnet20 mobilenetv2 ...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/run-cpu-setting-ab.sh" team-size sized=-Dosprey.cpu.minMicrosPerThread=10 \
  whole=-Dosprey.cpu.minMicrosPerThread=0 "$@"
