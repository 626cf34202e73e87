#!/usr/bin/env bash
# One run on the lent GPU machine (the device tool): backend detection, kernel tests on webgpu, `lmprobe verify`
# on every fixture with the webgpu backend, PyTorch's baseline, then lmprobe's benchmark on the same weights.
# Everything lands in $OUT (or bench/out/device when OUT is unset). Needs .device/ (../shared/tools/device-bundle).
#   bash bench/gpu-device-run.sh [reps]
set -uo pipefail
out=${OUT:-bench/out/device}; mkdir -p "$out"
reps=${1:-10}
bash .device/setup.sh
# setup.sh exports this only to its own shell.
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
node=.device/node
lm() { "$node" --import tsx -e 'require("./src/cli/main").main(process.argv.slice(1)).then((c) => (process.exitCode = c))' "$@"; }
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv

echo "== doctor"; lm doctor --json > "$out/doctor.json"; lm doctor 2>/dev/null | head -20

echo "== kernel tests on webgpu"
LMPROBE_BACKEND=webgpu timeout 120 "$node" scripts/run-tests.mjs test/backend 2>&1 | grep -E "^(✔|✖|﹣|ℹ (tests|pass|fail|skipped))|Error|error" | tee "$out/tests.txt"

echo "== verify on every fixture (webgpu)"
: > "$out/verify.txt"
for dir in test/fixtures/tiny/*/; do
  name=$(basename "$dir")
  res=$(timeout 120 bash -c "$(declare -f lm); node=$node; lm verify $dir --backend webgpu" 2>&1 | grep -v "^Warning" | tail -1)
  echo "$name: $res" | tee -a "$out/verify.txt"
done
res=$(timeout 120 bash -c "$(declare -f lm); node=$node; lm verify demo --reference test/fixtures/demo-capital/reference.safetensors --backend webgpu" 2>&1 | tail -1)
echo "demo-capital: $res" | tee -a "$out/verify.txt"

echo "== PyTorch baseline"
PYTHONUNBUFFERED=1 timeout 240 python3 bench/torch_baseline.py --save /tmp/lmprobe-models --seq 128,1024 --reps "$reps" > "$out/torch.json" 2> /tmp/torch.err
grep "^{" /tmp/torch.err

echo "== lmprobe benchmark (webgpu)"
timeout 300 "$node" --import tsx bench/run.mjs --src --backend webgpu --checkpoints /tmp/lmprobe-models --torch "$out/torch.json" \
  --reps "$reps" --kernels --out "$out/bench.json" 2> "$out/bench.err" > /dev/null
grep -v "^Warning" "$out/bench.err" | tail -20

echo "== kernels again with Dawn's bounds checks off (to measure what robustness costs)"
LMPROBE_DAWN_OPTIONS="enable-dawn-features=disable_robustness,disable_workgroup_init" timeout 120 "$node" --import tsx bench/run.mjs --src \
  --backend webgpu --models "" --kernels --out "$out/kernels-unchecked.json" 2> /tmp/kernels-unchecked.err > /dev/null
grep -E "^(matmul|logit_stats)" /tmp/kernels-unchecked.err | cut -c1-600
