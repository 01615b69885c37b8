#!/usr/bin/env bash
# One inference convolution alone under two settings of the CPU backend (JVM flags, e.g. a kernel turned off), each
# in its own JVM, alternating, several rounds: dev.osprey.bench.ConvOpTime times the op as an inference plan runs it
# (kernel prepared once, bias and ReLU fused), median and best microseconds per call. A whole model's figures on this
# shared machine swing by 20% between runs; one layer alone shows differences of a few microseconds. Computes on the
# calling thread. Writes benchmarks/results/conv-op-ab-<UTC time, to the second>.md.
# Usage: benchmarks/run-conv-op-ab.sh LABEL_A=FLAGS_A LABEL_B=FLAGS_B ROUNDS SECONDS BATCH H W IN OUT KERNEL STRIDE PAD
# e.g.   benchmarks/run-conv-op-ab.sh osprey= onednn=-Dosprey.cpu.smallPointwise=false 5 2 1 32 32 16 32 1 2 0
# KERNELS=N: the calls take N prepared kernels in turn (a model's N layers of this shape), so that the kernel is not
# in the cache only because the call before read it. CONV_GROUPS=N: the channels in N groups (CONV_GROUPS=IN with
# OUT=IN: a depthwise convolution). CONV_PRECISION=int8: the convolution in int8 (default fp32).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage="usage: $0 LABEL_A=FLAGS LABEL_B=FLAGS ROUNDS SECONDS BATCH H W IN OUT KERNEL STRIDE PAD (labels: letters,
digits, '.', '_', '-'; KERNELS=N optional, N >= 1)"
[ "$#" -eq 12 ] && [[ "$1" == *=* && "$2" == *=* ]] || { echo "$usage" >&2; exit 2; }
label_a="${1%%=*}"; flags_a="${1#*=}"
label_b="${2%%=*}"; flags_b="${2#*=}"
rounds="$3"; seconds="$4"; shape=("${@:5}")
kernels="${KERNELS:-1}"
[[ "$label_a" =~ ^[A-Za-z0-9_.-]+$ && "$label_b" =~ ^[A-Za-z0-9_.-]+$ && "$label_a" != "$label_b" \
  && "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[0-9]+([.][0-9]+)?$ && "$kernels" =~ ^[1-9][0-9]*$ ]] \
  || { echo "$usage" >&2; exit 2; }
for v in "${shape[@]}"; do [[ "$v" =~ ^[1-9][0-9]*$|^0$ ]] || { echo "$usage (shape: 8 integers)" >&2; exit 2; }; done
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$root" && mvn -B -q -Dstyle.color=never -DskipTests package -pl benchmarks -am) >&2
fi
cp="$root/benchmarks/target/osprey-benchmarks-0.1.0-SNAPSHOT.jar:$root/benchmarks/target/lib/*"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log="$work/log"
run() { # label flags; a failed run shows its error output and ends the script
  # shellcheck disable=SC2086 # the flags are a list of JVM options
  if ! java --enable-native-access=ALL-UNNAMED -Dosprey.cpu.deviceThread=false $2 -cp "$cp" dev.osprey.bench.ConvOpTime \
      "${shape[@]}" "$seconds" "$kernels" >"$work/out" 2>"$work/err"; then
    echo "$1 ($2) failed:" >&2; cat "$work/err" >&2; exit 1
  fi
  sed "s/^/$1 /" "$work/out" | tee -a "$log" >&2
}
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then run "$label_a" "$flags_a"; run "$label_b" "$flags_b"
  else run "$label_b" "$flags_b"; run "$label_a" "$flags_a"; fi
done
out="$root/benchmarks/results/conv-op-ab-$(date -u +%Y-%m-%dT%H%M%SZ).md"
commit="$(git -C "$root" rev-parse --short HEAD)"
[ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || commit="$commit + uncommitted changes"
python3 - "$log" "$label_a" "$flags_a" "$label_b" "$flags_b" "$rounds" "$seconds" "${shape[*]}" \
  "$commit" "$kernels" "$OMP_NUM_THREADS" >"$work/report" <<'PY'
import os, statistics, sys
log, la, fa, lb, fb, rounds, seconds, shape, commit, kernels_in_turn, threads = sys.argv[1:]
runs = {la: {"us_median": [], "us_best": []}, lb: {"us_median": [], "us_best": []}}
kernels = {}
for line in open(log):
    parts = line.split()
    if len(parts) >= 4 and parts[1] == "RESULT":
        runs[parts[0]][parts[2]].append(float(parts[3]))
    elif len(parts) >= 3 and parts[1] == "INFO":
        kernels[parts[0]] = line.split("conv kernel: ")[-1].strip(" )\n") if "conv kernel" in line else "?"
names = "batch h w in out kernel stride pad".split()
print(f"# One convolution, two settings: {la} vs {lb}\n")
print(f"- op: " + ", ".join(f"{n} {v}" for n, v in zip(names, shape.split()))
      + f", groups {os.environ.get('CONV_GROUPS', '1')}; bias and ReLU fused, "
      + os.environ.get('CONV_PRECISION', 'fp32'))
print(f"- {la}: `{fa}` ({kernels.get(la, '?')}); {lb}: `{fb}` ({kernels.get(lb, '?')})")
print(f"- {rounds} alternating rounds of {seconds} s each; {kernels_in_turn} prepared kernel(s) in turn; commit {commit}; "
      f"OMP_NUM_THREADS={threads}, on the calling thread\n")
print(f"| figure | {la} per round (us) | {lb} per round (us) | {la} / {lb}, medians |")
print("|---|---|---|---:|")
for fig in ("us_median", "us_best"):
    a, b = runs[la][fig], runs[lb][fig]
    if a and b:
        print(f"| {fig} | {' '.join(f'{v:.2f}' for v in a)} | {' '.join(f'{v:.2f}' for v in b)} | "
              f"{statistics.median(a) / statistics.median(b):.2f} |")
PY
mv "$work/report" "$out"
echo "wrote $out" >&2
cat "$out"
