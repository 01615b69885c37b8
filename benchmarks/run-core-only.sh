#!/usr/bin/env bash
# A new Maven project that depends on osprey-core alone (benchmarks/core-only): installs Osprey into the local
# repository, builds the project, trains the tutorial CNN with it, and records its runtime class path (jars and
# MiB) beside the osprey command's. Writes benchmarks/results/core-only-<time>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -o -DskipTests install >/dev/null 2>&1 || mvn -B -q -DskipTests install
(cd benchmarks/core-only && (mvn -B -q -o package >/dev/null 2>&1 || mvn -B -q package))
run="$(cd benchmarks/core-only && java --enable-native-access=ALL-UNNAMED -cp "target/core-only-1.jar:target/lib/*" example.TrainTutorial 2>&1 | grep -v '^SLF4J')"
core_jars=$(ls benchmarks/core-only/target/lib | wc -l)
core_mib=$(du -cm benchmarks/core-only/target/lib/*.jar | tail -1 | cut -f1)
cli_jars=$(( $(ls java/cli/target/lib | wc -l) + 1 ))
cli_mib=$(du -cm java/cli/target/lib/*.jar java/cli/target/osprey-cli-*.jar | tail -1 | cut -f1)
out="benchmarks/results/core-only-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# A project depending on osprey-core alone, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "benchmarks/core-only: \`dev.osprey:osprey-core\` through \`osprey-bom\`, nothing else."
  echo
  echo '```'
  echo "$run"
  echo '```'
  echo
  echo "| runtime class path | jars | MiB |"
  echo "|---|---:|---:|"
  echo "| osprey-core alone | $core_jars | $core_mib |"
  echo "| the osprey command (every module) | $cli_jars | $cli_mib |"
  echo
  echo "osprey-core's jars:"
  echo
  echo '```'
  (cd benchmarks/core-only/target/lib && du -m *.jar)
  echo '```'
} >"$out"
cat "$out"
