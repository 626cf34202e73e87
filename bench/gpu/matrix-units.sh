#!/usr/bin/env bash
# One device call (about 2-4 min): with LMPROBE_UNITS_FIRST_LOOK=1, what the adapter offers for matrix units
# (bench/gpu/subgroup-matrix.mjs: features, subgroup-matrix shapes, a plain product's accuracy and rate per number of
# half-precision terms), then bench/gpu/matrix-units.mjs: packed bf16 products on the matrix units against the tiled float32 kernel (time,
# TFLOP/s, error against float64) at Llama-3.1-8B and GPT-2-small shapes. In $OUT: subgroup-matrix.json,
# matrix-units.json, gpu.txt, log.txt.
#   bash bench/gpu/matrix-units.sh [extra args for matrix-units.mjs]      (carry [".device"])
# LMPROBE_UNITS_MODEL: the model of the whole-forward check (qwen2.5-1.5b; empty: none).
source "$(dirname "$0")/common.sh"
need_node
gpu_info
# The first look at the adapter (bench/gpu/subgroup-matrix.mjs) only with LMPROBE_UNITS_FIRST_LOOK=1: on an H200 it
# ran out of its 120 s without printing (bench/results/gpu-h200/matrix-units-split-fix/log.txt).
if [ "${LMPROBE_UNITS_FIRST_LOOK:-0}" = 1 ]; then
  say "adapter: subgroup matrices"
  timeout "$(step_timeout 120)" "$node" bench/gpu/subgroup-matrix.mjs 2>> "$log" > "$out/subgroup-matrix.json"; say "subgroup-matrix exited $?"
  cut -c1-1500 "$out/subgroup-matrix.json"
fi
model=${LMPROBE_UNITS_MODEL-qwen2.5-1.5b}
say "packed products: matrix units vs tiled kernel${model:+, then a $model forward}"
timeout "$(step_timeout 400)" "$node" --import tsx bench/gpu/matrix-units.mjs ${model:+--model "$model"} --out "$out/matrix-units.json" "$@" 2>> "$log" > /dev/null \
  || say "matrix-units exited $?"
grep '^{' "$log" | cut -c1-600
