#!/usr/bin/env bash
# One device call (about 4-7 min on an H100): PyTorch float32 and bf16 on GPT-2-small and Qwen2.5-0.5B shapes
# (random weights rounded to bf16, saved as bf16 checkpoints), then lmprobe's forward and probe on the same files
# with the webgpu backend, once per LMPROBE_PACKED_WEIGHTS value while the budget allows; T = 128 and 1024. In $OUT:
# small.json (every case with its ratios to PyTorch float32 and bf16), torch-small.json, lmprobe-small-packed<P>.json,
# gpu.txt, log.txt.
# The third argument lists LMPROBE_MATRIX_UNITS values to run each packed mode with (default "auto", lmprobe's own; "off features on":
# the matrix units' effect in the same call, and the device's features for them without their products; files
# lmprobe-small-packed<P>-units-<U>.json; "on on/tiled": the units' split-K rule against the tiled kernel's, files
# ...-units-on-split-tiled.json). LMPROBE_SMALL_CASES: the cases (default gpt2-small,qwen2.5-0.5b).
#   bash bench/gpu/small.sh [reps=10] ["1 0"] ["off on"]       (carry [".device"])
source "$(dirname "$0")/common.sh"
reps=${1:-10}
modes=${2:-1 0}
unit_modes=${3:-auto}
cases=${LMPROBE_SMALL_CASES:-gpt2-small,qwen2.5-0.5b}
need_node
gpu_info
say "PyTorch float32 + bf16 (bf16 checkpoints written to $models)"
PYTHONUNBUFFERED=1 timeout "$(step_timeout 240)" python3 bench/torch_baseline.py --save "$models" --save-dtype bfloat16 \
  --models $cases --dtypes float32,bfloat16 --seq 128,1024 --reps "$reps" --device "$torch_device" > "$out/torch-small.json" 2>> "$log"
grep '^{' "$log" | cut -c1-300 | tail -8
lmprobe_runs=()
for p in $modes; do
  for u in $unit_modes; do
    name=lmprobe-small-packed$p$([ "$unit_modes" = auto ] || echo "-units-$(arm_name "$u")")
    if ! within 90; then say "lmprobe with LMPROBE_PACKED_WEIGHTS=$p, $(arm_env "$u") skipped: $(left) s left"; continue; fi
    say "lmprobe (webgpu, LMPROBE_PACKED_WEIGHTS=$p, $(arm_env "$u"))"
    env $(arm_env "$u") LMPROBE_PACKED_WEIGHTS=$p timeout "$(step_timeout 220)" "$node" --require ./bench/native-deps.cjs --import tsx bench/run.mjs --src --backend webgpu --models $cases \
      --seq 128,1024 --checkpoints "$models" --torch "$out/torch-small.json" --reps "$reps" --out "$out/$name.json" \
      2>> "$log" > /dev/null || say "lmprobe run exited $? (packed=$p, units=$u)"
    lmprobe_runs+=(--lmprobe "$out/$name.json")
  done
done
say "summary"
python3 bench/gpu/merge.py --out "$out/small.json" --gpu "${gpu_name:-}" --torch "$out/torch-small.json" "${lmprobe_runs[@]}"
