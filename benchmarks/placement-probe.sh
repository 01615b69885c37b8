# Sourced by the benchmarks that compare Osprey with its peers: where the two vCPUs sit before each framework's figures
# (benchmarks/kernels/placement_probe.c: one cache-line hand-over between them, about 35 ns sharing a last-level cache,
# 140-170 ns apart), so a report can tell the rounds of each placement apart.
# build_placement_probe DIR compiles the probe into DIR (without gcc it is skipped, and the report has no column);
# probe_placement ROUND MODEL FRAMEWORK prints "PROBE ROUND MODEL FRAMEWORK handover_ns=..".

build_placement_probe() {
  placement_probe=""
  if command -v gcc >/dev/null 2>&1 \
      && gcc -O2 -std=gnu11 -pthread -o "$1/placement_probe" "$root/benchmarks/kernels/placement_probe.c" 2>/dev/null; then
    placement_probe="$1/placement_probe"
  else
    echo "note: the placement probe did not build (gcc needed): no placement figures" >&2
  fi
}

probe_placement() {
  [ -n "$placement_probe" ] || return 0
  local line
  line="$("$placement_probe")" || return 0
  echo "PROBE $1 $2 $3 ${line#PLACEMENT }"
}
