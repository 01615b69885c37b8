"""Writes the markdown report of benchmarks/run-op-profile.sh from the logs of its runs.

Usage: op_profile_report.py WORK_DIR CALLS MODEL... (WORK_DIR holds "peak" and MODEL-PHASE.log files, each log the
standard output of one OpProfile run: its OPPROFILE lines, then oneDNN's verbose lines of the measured calls).
"""
import collections
import datetime
import os
import platform
import re
import subprocess
import sys

PHASES = [("infer", "inference at a large batch"), ("latency", "batch 1"), ("train", "training steps")]


def flops(kind, problem):
    """Floating-point operations of one convolution, inner product or matrix product, from oneDNN's problem
    descriptor; else None."""
    if kind == "matmul":
        m = re.fullmatch(r"(\d+)x(\d+):(\d+)x(\d+)", problem)
        return None if m is None else 2.0 * int(m.group(1)) * int(m.group(2)) * int(m.group(4))
    dims = dict((k, int(v)) for k, v in re.findall(r"([a-z]+)(\d+)", problem))
    if kind == "convolution" and all(k in dims for k in ("mb", "ic", "oc", "oh", "ow", "kh", "kw")):
        groups = dims.get("g", 1)
        return 2.0 * dims["mb"] * dims["oc"] * dims["oh"] * dims["ow"] * (dims["ic"] // groups) * dims["kh"] * dims["kw"]
    if kind == "inner_product" and all(k in dims for k in ("mb", "ic", "oc")):
        return 2.0 * dims["mb"] * dims["ic"] * dims.get("ih", 1) * dims.get("iw", 1) * dims["oc"]
    return None


def direction(prop):
    return {"forward_inference": "forward", "forward_training": "forward", "forward": "forward"}.get(prop, prop)


def read(path):
    """(wall ms per call, calls, [(kind, direction, implementation, problem, ms)]) of one run's log."""
    wall, calls, prims = None, None, []
    with open(path) as f:
        for line in f:
            if line.startswith("OPPROFILE wall_ms_per_call"):
                wall = float(line.split()[-1])
            elif line.startswith("OPPROFILE calls"):
                calls = int(line.split()[-1])
            elif line.startswith("onednn_verbose") and ",primitive,exec," in line:
                p = line.strip().split(",")
                try:
                    ms = float(p[-1])
                except ValueError:
                    continue
                prims.append((p[5], direction(p[7]), p[6], p[-2], ms))
    return wall, calls, prims


def fmt(x, digits=3):
    return "—" if x is None else f"{x:,.{digits}f}"


def main():
    work, models = sys.argv[1], sys.argv[3:]
    peak = None
    with open(os.path.join(work, "peak")) as f:
        for line in f:
            if line.startswith("OPPROFILE peak_gflops"):
                peak = float(line.split()[-1])
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if re.search(r"\b%s\b" % f, flags)]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    print(f"# Where the time goes: oneDNN primitives of each model, {stamp}\n")
    print(f"- machine: {cpu}, {os.cpu_count()} vCPU, ISA flags: {' '.join(isa) or 'none of avx2/avx512'}; "
          f"{platform.platform()}")
    print(f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')}; commit {commit}; command: "
          f"`PRECISION={os.environ.get('PRECISION', 'fp32')} benchmarks/run-op-profile.sh {sys.argv[2]} {' '.join(models)}`")
    print(f"- yardstick: fp32 matrix product 2048x2048x2048 through the dense op, best of 3 s: "
          f"**{fmt(peak, 1)} GFLOP/s** (not the FMA peak: the best convolution kernels can run faster)")
    print("- each phase runs in its own JVM: warm-up calls, the calls timed without oneDNN's verbose mode (wall), then "
          "the same number of calls with it, whose primitive times are summed here. 'in oneDNN' = primitive time / "
          "wall time (the two runs are separate, so noise can push it past 100%).\n")
    for model in models:
        print(f"## {model}\n")
        for phase, title in PHASES:
            path = os.path.join(work, f"{model}-{phase}.log")
            if not os.path.exists(path):
                continue
            wall, calls, prims = read(path)
            if not calls or not prims:
                print(f"### {title}: no figures (the run failed)\n")
                continue
            total = sum(p[4] for p in prims) / calls
            share = None if not wall else 100.0 * total / wall
            print(f"### {title}\n")
            print(f"{calls} calls; wall {fmt(wall)} ms per call without the verbose mode; primitives "
                  f"{fmt(total)} ms per call (in oneDNN: {fmt(share, 0)}%)\n")
            groups = collections.OrderedDict()
            for kind, d, impl, problem, ms in prims:
                g = groups.setdefault((kind, d), {"ms": 0.0, "n": 0, "flop": 0.0, "flop_ms": 0.0, "impl": set()})
                g["ms"] += ms
                g["n"] += 1
                g["impl"].add(impl)
                fl = flops(kind, problem)
                if fl is not None:
                    g["flop"] += fl
                    g["flop_ms"] += ms
            print("| primitive | direction | ms per call | share | executions per call | GFLOP/s | of yardstick | "
                  "implementations |")
            print("|---|---|---:|---:|---:|---:|---:|---|")
            for (kind, d), g in sorted(groups.items(), key=lambda kv: -kv[1]["ms"]):
                rate = g["flop"] / (g["flop_ms"] * 1e6) if g["flop_ms"] > 0 else None
                of_peak = None if rate is None or not peak else 100.0 * rate / peak
                print(f"| {kind} | {d} | {fmt(g['ms'] / calls)} | {100.0 * g['ms'] / calls / total:.1f}% | "
                      f"{g['n'] / calls:.0f} | {fmt(rate, 1)} | {fmt(of_peak, 0)}{'%' if of_peak is not None else ''} | "
                      f"{', '.join(sorted(g['impl']))} |")
            print()
            heavy = collections.defaultdict(lambda: [0.0, 0, None])
            for kind, d, impl, problem, ms in prims:
                h = heavy[(kind, d, problem)]
                h[0] += ms
                h[1] += 1
                h[2] = impl
            print("Heaviest single primitives:\n")
            print("| primitive | direction | problem | ms per call | GFLOP/s |")
            print("|---|---|---|---:|---:|")
            for (kind, d, problem), (ms, n, impl) in sorted(heavy.items(), key=lambda kv: -kv[1][0])[:5]:
                fl = flops(kind, problem)
                rate = None if fl is None else fl * n / (ms * 1e6)
                print(f"| {kind} ({impl}) | {d} | `{problem}` | {fmt(ms / calls)} | {fmt(rate, 1)} |")
            print()


if __name__ == "__main__":
    main()
