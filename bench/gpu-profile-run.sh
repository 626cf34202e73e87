#!/usr/bin/env bash
# A diagnostic run on the lent GPU machine: verify on every fixture (webgpu), the per-dispatch CPU cost by Dawn
# call (with and without Dawn's validation), the benchmark with the dispatch/fusion ablation, and the functions
# that take the CPU's time in GPT-2's probe at T = 1024. Results in $OUT (or bench/out/device).
#   bash bench/gpu-profile-run.sh [tree]
set -uo pipefail
out=${OUT:-bench/out/device}; mkdir -p "$out"; out=$(cd "$out" && pwd)
tree=${1:-.}
bash .device/setup.sh
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
node=$PWD/.device/node
cd "$tree"
echo "== verify on every fixture (webgpu)"
timeout 200 "$node" --import tsx bench/verify-all.mjs --backend webgpu --src 2>&1 | grep -v "^Warning" | tee "$out/verify.txt" | tail -3
echo "== dispatch cost"
for opts in "" "enable-dawn-features=skip_validation"; do
  LMPROBE_DAWN_OPTIONS="$opts" timeout 60 "$node" --import tsx bench/dispatch-profile.mjs --src 2>/dev/null
done > "$out/dispatch.json"
grep -E '"(lean|batch|us_per_dispatch|us_in_dawn_calls_per_dispatch|dawn_options)"' "$out/dispatch.json" | tr -d ' \n'; echo
echo "== PyTorch baseline (checkpoints)"
PYTHONUNBUFFERED=1 timeout 150 python3 bench/torch_baseline.py --save /tmp/lmprobe-models --seq 128,1024 --reps 5 > "$out/torch.json" 2> /tmp/torch.err
grep "^{" /tmp/torch.err
echo "== benchmark with ablation"
timeout 200 "$node" --import tsx bench/run.mjs --src --backend webgpu --models gpt2-small,qwen2.5-0.5b --checkpoints /tmp/lmprobe-models \
  --torch "$out/torch.json" --reps 5 --ablation --out "$out/bench.json" 2>&1 >/dev/null | grep '^{' | cut -c1-600
echo "== CPU profile: GPT-2 probe, T = 1024"
rm -rf /tmp/prof
timeout 120 "$node" --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/run.mjs --src --backend webgpu --models gpt2-small --seq 1024 \
  --checkpoints /tmp/lmprobe-models --reps 5 > /dev/null 2>&1
"$node" bench/cpu-profile-top.mjs /tmp/prof 40 | tee "$out/cpu-profile.jsonl"
