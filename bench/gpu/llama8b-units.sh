#!/usr/bin/env bash
# One device call (about 4-6 min): the Llama-3.1-8B-shaped bf16 checkpoint (written first unless the machine kept
# it) at T = 1024, lmprobe on webgpu with packed weights, the matrix units off and then on (two terms, where
# planUnits takes a product), and PyTorch float32 in the same call: forward and probe, for the units' effect on a
# whole model and the ratio to PyTorch. In $OUT: lmprobe-llama8b-units-{off,on}.json, torch-llama8b-float32.json,
# llama8b-units.json (merge.py's summary of both against the same PyTorch run), gpu.txt, log.txt.
#   bash bench/gpu/llama8b-units.sh [reps=3] [seq=1024] [arms="off on"]        (carry [".device"])
# arms: LMPROBE_MATRIX_UNITS values, each optionally "/S" for LMPROBE_MATRIX_UNIT_SPLITK=S ("on/tiled on": the
# units' split-K rule against the tiled kernel's); files lmprobe-llama8b-units-<arm>.json.
source "$(dirname "$0")/common.sh"
reps=${1:-3}
seq=${2:-1024}
arms=${3:-off on}
need_node
gpu_info
llama_checkpoint 120
runs=()
for arm in $arms; do
  units=$(arm_name "$arm")
  if ! within 90; then say "lmprobe with the units $units skipped: $(left) s left"; continue; fi
  say "lmprobe (webgpu, packed weights, $(arm_env "$arm"))"
  env $(arm_env "$arm") LMPROBE_PACKED_WEIGHTS=1 timeout "$(step_timeout 150)" "$node" --require ./bench/native-deps.cjs --import tsx bench/run.mjs --src --backend webgpu \
    --models "$llama_name" --seq "$seq" --checkpoints "$models" --reps "$reps" --out "$out/lmprobe-llama8b-units-$units.json" 2>> "$log" > /dev/null \
    || say "lmprobe run exited $? (units $units)"
  grep "^{\"model\":\"$llama_name\"" "$log" | tail -1 | cut -c1-400
  runs+=(--lmprobe "$out/lmprobe-llama8b-units-$units.json")
done
if within 60; then
  say "PyTorch float32, same call"
  PYTHONUNBUFFERED=1 timeout "$(step_timeout 150)" python3 bench/torch_baseline.py --load "$models" --models "$llama_name" --dtypes float32 \
    --seq "$seq" --reps "$reps" --device "$torch_device" > "$out/torch-llama8b-float32.json" 2>> "$log" || say "PyTorch exited $?"
else
  say "PyTorch skipped: $(left) s left"
fi
say "summary"
python3 bench/gpu/merge.py --out "$out/llama8b-units.json" --gpu "${gpu_name:-}" --torch "$out/torch-llama8b-float32.json" "${runs[@]}" \
  --extra checkpoint="$out/checkpoint.json" 2>> "$log" && cut -c1-3000 "$out/llama8b-units.json"
