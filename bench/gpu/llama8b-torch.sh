#!/usr/bin/env bash
# One device call (about 4-8 min on an H100): writes the Llama-3.1-8B-shaped bf16 sharded checkpoint (16 GB,
# bench/gpu/write_llama_checkpoint.py; reused when the machine kept it), measures the disk's read rate on its shards,
# then PyTorch: from_pretrained onto the GPU (timed) and forward / probe at T = 128 and 1024, bf16 then float32
# (each while the budget allows), with the probe's peak GPU memory. In $OUT: llama8b-torch.json (the summary),
# torch-llama8b-<dtype>.json, checkpoint.json, disk.json, gpu.txt, log.txt.
#   bash bench/gpu/llama8b-torch.sh [reps=5]        (no carry needed; LMPROBE_BENCH_COLD=1 drops the page cache first)
source "$(dirname "$0")/common.sh"
reps=${1:-5}
gpu_info
llama_checkpoint
say "disk read rate"
timeout "$(step_timeout 120)" python3 bench/gpu/disk_read.py "$ckpt" --drop-caches > "$out/disk.json" 2>> "$log"
cat "$out/disk.json"
torch_files=()
for dtype in bfloat16 float32; do
  if ! within 100; then say "PyTorch $dtype skipped: $(left) s left"; continue; fi
  say "PyTorch $dtype: from_pretrained + forward/probe (page cache: $(page_cache))"
  PYTHONUNBUFFERED=1 timeout "$(step_timeout 300)" python3 bench/torch_baseline.py --load "$models" --models "$llama_name" --dtypes $dtype \
    --seq 128,1024 --reps "$reps" --device "$torch_device" > "$out/torch-llama8b-$dtype.json" 2>> "$log" || say "PyTorch $dtype exited $?"
  grep "^{\"model\": \"$llama_name\", \"dtype\": \"torch.$dtype\"" "$log" | cut -c1-400
  torch_files+=(--torch "$out/torch-llama8b-$dtype.json")
done
python3 bench/gpu/merge.py --out "$out/llama8b-torch.json" --gpu "${gpu_name:-}" "${torch_files[@]}" \
  --extra checkpoint="$out/checkpoint.json" --extra disk="$out/disk.json" > /dev/null
