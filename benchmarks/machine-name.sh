# Sourced by the benchmark scripts: machine_name prints the processor as a results header names it, with its CPU family
# and model, since the model name alone does not tell the processor generations apart (an "AMD EPYC" was a Zen 4 on
# some days and a Zen 5, family 26, on others, and the two run 512-bit vectors at different rates).
machine_name() {
  local name family model
  name="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  family="$(lscpu | sed -n 's/^CPU family: *//p' | head -1)"
  model="$(lscpu | sed -n 's/^Model: *//p' | head -1)"
  if [ -n "$family" ]; then
    echo "${name:-unknown CPU} (CPU family $family, model ${model:-?})"
  else
    echo "${name:-unknown CPU}"
  fi
}
