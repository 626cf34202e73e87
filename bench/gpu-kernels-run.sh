#!/usr/bin/env bash
# Second device run: kernel rates (with and without Dawn's bounds checks) and the probe with tfjs-webgpu's own
# matmul instead of lmprobe's, on checkpoints written by PyTorch in the same run. Results in $OUT.
set -uo pipefail
out=${OUT:-bench/out/device}; mkdir -p "$out"
bash .device/setup.sh
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
node=.device/node
echo "== kernels"
timeout 150 "$node" --import tsx bench/run.mjs --src --backend webgpu --models "" --kernels --out "$out/kernels.json" 2>&1 >/dev/null | grep -v "^Warning" | cut -c1-900
echo "== kernels, Dawn bounds checks off"
LMPROBE_DAWN_OPTIONS="enable-dawn-features=disable_robustness,disable_workgroup_init" timeout 150 "$node" --import tsx bench/run.mjs --src \
  --backend webgpu --models "" --kernels --out "$out/kernels-unchecked.json" 2>&1 >/dev/null | grep -E "^(matmul|logit_stats)" | cut -c1-900
[ "${1:-}" = kernels-only ] && exit 0
echo "== probe with tfjs-webgpu's matmul"
PYTHONUNBUFFERED=1 timeout 120 python3 bench/torch_baseline.py --save /tmp/lmprobe-models --seq 128 --reps 1 > /dev/null 2>&1
LMPROBE_WEBGPU_MATMUL=tfjs timeout 200 "$node" --import tsx bench/run.mjs --src --backend webgpu --models gpt2-small,qwen2.5-0.5b --seq 1024 \
  --checkpoints /tmp/lmprobe-models --reps 5 --out "$out/bench-tfjs-matmul.json" 2>&1 >/dev/null | grep "^{" | cut -c1-400
