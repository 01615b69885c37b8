#!/usr/bin/env bash
# Serving benchmark: in process (Predictor) and over HTTP on 127.0.0.1 (osprey serve's server), 1, 8 and 64
# closed-loop callers, batched (max batch 64) against unbatched (max batch 1). Bounded in time; loopback only.
# Writes a table under benchmarks/results/. Usage: benchmarks/run-serving.sh [seconds-per-run=5]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-5}"
(cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am)
log="$(mktemp)"
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" java --enable-native-access=ALL-UNNAMED \
  -cp "$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*" \
  dev.osprey.bench.ServingBenchmark "$seconds" 1 8 64 | tee "$log"
out="$root/benchmarks/results/serving-$(date -u +%Y-%m-%dT%H%MZ).md"
python3 - "$log" "$out" "$seconds" <<'PY'
import json, subprocess, sys
log, out, seconds = sys.argv[1:4]
rows = [json.loads(l) for l in open(log) if l.startswith("{")]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
lines = ["# Serving the tutorial CNN: batched against unbatched", "",
         f"- machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} vCPU; oneDNN with 2 OpenMP threads",
         f"- {seconds} s per run after a 1 s warm-up; closed-loop callers sending one 28x28 image per request",
         "- in-process: `Predictor.predict` from N threads; http: `osprey serve`'s server on 127.0.0.1, raw float32 bodies,",
         "  JDK HttpClient callers in the same JVM (so the clients share the 2 cores with the server)",
         "- command: `benchmarks/run-serving.sh " + seconds + "`", "",
         "| transport | callers | batched req/s | batched p50 / p99 ms | unbatched req/s | unbatched p50 / p99 ms | batched / unbatched |",
         "|---|---:|---:|---:|---:|---:|---:|"]
for t in ("in-process", "http"):
    for c in (1, 8, 64):
        b = next(r for r in rows if r["transport"] == t and r["callers"] == c and r["max_batch"] > 1)
        u = next(r for r in rows if r["transport"] == t and r["callers"] == c and r["max_batch"] == 1)
        lines.append(f"| {t} | {c} | {b['requests_per_s']:,.0f} | {b['p50_ms']:.3f} / {b['p99_ms']:.3f} | "
                     f"{u['requests_per_s']:,.0f} | {u['p50_ms']:.3f} / {u['p99_ms']:.3f} | {b['requests_per_s'] / u['requests_per_s']:.2f}x |")
locked = [r for r in rows if r["max_batch"] == 0]
if locked:
    lines += ["", "Without a Predictor (a shared model, each caller thread calling predict under a lock), in process:", "",
              "| callers | req/s | p50 / p99 ms | Predictor batched / this |", "|---:|---:|---:|---:|"]
    for r in locked:
        b = next(x for x in rows if x["transport"] == "in-process" and x["callers"] == r["callers"] and x["max_batch"] > 1)
        lines.append(f"| {r['callers']} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.3f} / {r['p99_ms']:.3f} | "
                     f"{b['requests_per_s'] / r['requests_per_s']:.2f}x |")
    lines += ["", "(From more than one thread, oneDNN's OpenMP runtime slows down severalfold on this 2-vCPU machine; "
              "the Predictor's single worker thread avoids that.)"]
lines += ["", "Raw runs:", "", "```"] + [json.dumps(r) for r in rows] + ["```"]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "written: $out" >&2
