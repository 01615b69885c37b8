#!/usr/bin/env bash
# Runs the README's test command RUNS times in a row while BURNERS busy loops compete for the CPU, and records how
# many runs passed and how long each took: the test command must pass every time, also on a busy machine.
# Writes benchmarks/results/tests-under-load-<time>.md. Usage: benchmarks/run-tests-under-load.sh [RUNS=20] [BURNERS=nproc]
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"; burners="${2:-$(nproc)}"
pids=()
for _ in $(seq 1 "$burners"); do (while :; do :; done) & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
out="benchmarks/results/tests-under-load-$(date -u +%Y-%m-%dT%H%MZ).md"
passed=0
{
  echo "# The test command under load, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "\`mvn -B test\` $runs times in a row beside $burners busy loops on $(nproc) cores."
  echo
  echo "| run | result | seconds |"
  echo "|---|---|---|"
} >"$out"
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  # exactly the README's test command
  if mvn -B test >"/tmp/osprey-tests-under-load-$i.log" 2>&1; then result=pass; passed=$((passed + 1)); else result="FAIL (/tmp/osprey-tests-under-load-$i.log)"; fi
  echo "| $i | $result | $(( $(date +%s) - start )) |" >>"$out"
  echo "run $i: $result" >&2
done
echo >>"$out"
echo "$passed of $runs runs passed." >>"$out"
cat "$out"
[ "$passed" -eq "$runs" ]
