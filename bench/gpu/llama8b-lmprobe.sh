#!/usr/bin/env bash
# One device call (about 5-9 min on an H100): lmprobe on the Llama-3.1-8B-shaped bf16 sharded checkpoint
# (written first unless the machine kept it; the disk's read rate on it measured), webgpu backend, once per
# LMPROBE_PACKED_WEIGHTS value while the budget allows:
# load time, peak host RSS of the load (VmHWM), forward and probe at T = 128 and 1024, and one pass caching every
# layer's resid_post at T = 1024 (tf.memory() while held; nvidia-smi's peak over the whole run beside it). Then, with
# the time left, PyTorch's baseline again in the same call (bf16, then float32) for same-call ratios. In $OUT:
# llama8b.json (the summary), lmprobe-llama8b-packed<P>.json, torch-llama8b-same-call.json, checkpoint.json, gpu.txt,
# log.txt. Ratios against an earlier call's PyTorch files: python3 bench/gpu/merge.py (see README).
#   bash bench/gpu/llama8b-lmprobe.sh [reps=5] ["1 0"] [torch=1]        (carry [".device"])
source "$(dirname "$0")/common.sh"
reps=${1:-5}
modes=${2:-1 0}
rerun_torch=${3:-1}
need_node
gpu_info
llama_checkpoint
say "disk read rate"
timeout "$(step_timeout 90)" python3 bench/gpu/disk_read.py "$ckpt" --drop-caches > /tmp/disk.json 2>> "$log"
cat /tmp/disk.json
runs=(); extras=(--extra disk=/tmp/disk.json)
for p in $modes; do
  if ! within 150; then say "lmprobe with LMPROBE_PACKED_WEIGHTS=$p skipped: $(left) s left"; continue; fi
  say "lmprobe (webgpu, LMPROBE_PACKED_WEIGHTS=$p; page cache: $(page_cache))"
  gpu_sampler_start "/tmp/gpumem-packed$p.txt"
  LMPROBE_PACKED_WEIGHTS=$p timeout "$(step_timeout 330)" "$node" --require ./bench/native-deps.cjs --import tsx bench/run.mjs --src --backend webgpu --models "$llama_name" \
    --seq 128,1024 --cache-resid 1024 --checkpoints "$models" --reps "$reps" --out "$out/lmprobe-llama8b-packed$p.json" \
    2>> "$log" > /dev/null || say "lmprobe run exited $? (packed=$p)"
  gpu_sampler_stop > "/tmp/gpumem-packed$p.json"
  echo "nvidia-smi memory.used over the run: $(cat "/tmp/gpumem-packed$p.json")" | tee -a "$log"
  grep "^{\"model\":\"$llama_name\"" "$log" | tail -2 | cut -c1-600
  runs+=(--lmprobe "$out/lmprobe-llama8b-packed$p.json"); extras+=(--extra "gpu_memory_nvidia_smi_packed$p=/tmp/gpumem-packed$p.json")
done
torch_files=()
if [ "$rerun_torch" = 1 ]; then
  for dtype in bfloat16 float32; do
    if ! within 120; then say "PyTorch $dtype (same call) skipped: $(left) s left"; continue; fi
    say "PyTorch $dtype, same call (page cache: $(page_cache))"
    PYTHONUNBUFFERED=1 timeout "$(step_timeout 300)" python3 bench/torch_baseline.py --load "$models" --models "$llama_name" --dtypes $dtype \
      --seq 128,1024 --reps "$reps" --device "$torch_device" > "/tmp/torch-llama8b-$dtype.json" 2>> "$log" || say "PyTorch $dtype exited $?"
    torch_files+=("/tmp/torch-llama8b-$dtype.json")
  done
fi
# The same-call baselines as one file (one list), for merge.py here or later.
python3 - "$out/torch-llama8b-same-call.json" "${torch_files[@]}" <<'PY'
import json, sys
rows = []
for path in sys.argv[2:]:
    try:
        rows += json.load(open(path))
    except (OSError, ValueError):
        pass
json.dump(rows, open(sys.argv[1], "w"), indent=1)
PY
say "summary"
python3 bench/gpu/merge.py --out "$out/llama8b.json" --gpu "${gpu_name:-}" --torch "$out/torch-llama8b-same-call.json" "${runs[@]}" \
  --extra checkpoint="$out/checkpoint.json" "${extras[@]}"
