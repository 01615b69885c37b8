#!/usr/bin/env bash
# Soak test of `osprey serve`: MINUTES of good requests (JSON, float32, PNG) at GOOD/s with hostile ones beside
# them at HOSTILE/s (nested JSON, NaNs, a PNG declaring 30000x30000 pixels, bodies over the limit, garbage, wrong
# types) and SLOW slowloris connections trickling a byte a second, all on loopback. Records every good request's
# fate, p50/p99 latency, the hostile requests' statuses, the server's RSS every 10 s, and how SIGTERM drains.
# Writes benchmarks/results/soak-<time>.md.
# Usage: benchmarks/run-soak.sh [MINUTES=10] [GOOD=100] [HOSTILE=10] [SLOW=200]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"; good="${2:-100}"; hostile="${3:-10}"; slow="${4:-200}"
mvn -B -q -o -DskipTests package -pl benchmarks -am >/dev/null 2>&1 || mvn -B -q -DskipTests package -pl benchmarks -am
work="$(mktemp -d)"
trap 'if [ -n "${server:-}" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
./osprey train --epochs 1 -o "$work/model.osprey" >/dev/null
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
java --enable-native-access=ALL-UNNAMED -jar java/cli/target/osprey-cli-0.1.0-SNAPSHOT.jar serve "$work/model.osprey" \
  --port "$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do  # wait until the server answers its health check (up to 60 s)
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
cp="benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:benchmarks/target/lib/*"
java -cp "$cp" dev.osprey.bench.SoakClient "$port" "$server" "$((minutes * 60))" "$good" "$hostile" "$slow" \
  >"$work/client.out" 2>"$work/client.err"
metrics="$(curl -s "http://127.0.0.1:$port/metrics" | grep -E '^osprey_(requests_seconds_count|batch_size_count|connections)' || true)"
# SIGTERM under load: requests in flight must all be answered before the server exits.
java -cp "$cp" dev.osprey.bench.SoakClient "$port" "$server" 3 "$good" 0 0 >"$work/drain.out" 2>&1 &
drain=$!
sleep 1.5  # let the drain client get requests in flight before the signal
t0=$(date +%s%N); kill -TERM "$server"; wait "$server" || true; t1=$(date +%s%N)
wait "$drain" || true
out="benchmarks/results/soak-$(date -u +%Y-%m-%dT%H%MZ).md"
{
  echo "# Soak test of osprey serve, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$minutes minutes on loopback, $(nproc) cores: $good good requests/s (JSON, float32, PNG of the tutorial CNN), $hostile hostile/s, $slow slowloris connections (one byte a second each)."
  echo
  echo '| figure | value |'
  echo '|---|---|'
  awk '/^RESULT/ {printf "| %s | %s |\n", $3, $4}' "$work/client.out"
  echo
  echo "Server RSS (seconds, KiB):"
  echo
  echo '```'
  awk '/^RSS/ {print $2, $3}' "$work/client.out"
  echo '```'
  echo
  echo "Server /metrics at the end of the soak (counts):"
  echo
  echo '```'
  echo "$metrics"
  echo '```'
  echo
  echo "SIGTERM while a client sends $good requests/s: the server exited $(( (t1 - t0) / 1000000 )) ms after the signal; that client's view:"
  echo
  echo '| figure | value |'
  echo '|---|---|'
  awk '/^RESULT/ && ($3 ~ /^good/) {printf "| %s | %s |\n", $3, $4}' "$work/drain.out"
  echo
  echo "First failures, if any:"
  echo
  echo '```'
  grep '^FAILURE' "$work/client.out" | head -20 || true
  grep '^FAILURE' "$work/drain.out" | head -10 || true
  echo '```'
} >"$out"
cat "$out"
