#!/usr/bin/env bash
# One run on the lent GPU machine (the device tool), from the project root: the webgpu kernel tests, `lmprobe
# verify` on every fixture with the webgpu backend, PyTorch's baseline, then lmprobe's benchmark on the same
# weights with kernel rates and the dispatch/fusion ablation. Results in $OUT (or bench/out/device).
#   bash bench/gpu-device-run.sh [reps] [tree]   (tree: a snapshot from bench/gpu-snapshot.sh, default .)
# Needs .device/ (../shared/tools/device-bundle).
set -uo pipefail
out=${OUT:-bench/out/device}; mkdir -p "$out"; out=$(cd "$out" && pwd)
reps=${1:-10}
tree=${2:-.}
bash .device/setup.sh
# setup.sh exports this only to its own shell.
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
node=$PWD/.device/node
cd "$tree"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$out/gpu.txt"
lscpu | grep -E "^Model name|^CPU\(s\)" >> "$out/gpu.txt"

echo "== kernel tests on webgpu"
LMPROBE_BACKEND=webgpu timeout 150 "$node" scripts/run-tests.mjs test/backend 2>&1 | grep -E "^(✔|✖|﹣|ℹ (tests|pass|fail|skipped))|Error|error" | tee "$out/tests.txt"

echo "== verify on every fixture (webgpu)"
timeout 240 "$node" --import tsx bench/verify-all.mjs --backend webgpu --src 2>&1 | grep -v "^Warning" | tee "$out/verify.txt"

echo "== PyTorch baseline"
PYTHONUNBUFFERED=1 timeout 200 python3 bench/torch_baseline.py --save /tmp/lmprobe-models --seq 128,1024 --reps "$reps" > "$out/torch.json" 2> /tmp/torch.err
grep "^{" /tmp/torch.err

echo "== lmprobe benchmark (webgpu), kernels, ablation"
timeout 330 "$node" --import tsx bench/run.mjs --src --backend webgpu --checkpoints /tmp/lmprobe-models --torch "$out/torch.json" \
  --reps "$reps" --kernels --ablation --out "$out/bench.json" 2> "$out/bench.log" > /dev/null
grep -v "^Warning" "$out/bench.log" | cut -c1-700 | tail -24

echo "== GPU time per kernel in one probe (timestamp queries), T = 1024"
LMPROBE_DAWN_OPTIONS="enable-dawn-features=allow_unsafe_apis" timeout 150 "$node" --import tsx bench/run.mjs --src --backend webgpu \
  --models gpt2-small,qwen2.5-0.5b --seq 1024 --checkpoints /tmp/lmprobe-models --reps 1 --kernel-times --out "$out/kernel-times.json" 2>&1 >/dev/null \
  | grep '^{' | cut -c1-1500
