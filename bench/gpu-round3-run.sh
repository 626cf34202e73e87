#!/usr/bin/env bash
# Round three's device run: webgpu kernel tests and `verify` on every fixture for the new code, PyTorch's baseline,
# then lmprobe's benchmark of the committed code ("before") and of the new code ("after") on the same machine and
# weights, twice (before, after, before, after) so that drift between them shows. From the project root:
#   bash bench/gpu-snapshot.sh <changed paths>; tar -cf .gpu-snap/head-files.tar <HEAD versions of them>
#   bash bench/gpu-round3-run.sh [reps]        (results in $OUT, or bench/out/device)
set -uo pipefail
out=${OUT:-bench/out/device}; mkdir -p "$out"; out=$(cd "$out" && pwd)
reps=${1:-20}
bash .device/setup.sh
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
node=$PWD/.device/node
rm -rf .gpu-snap-before && cp -a .gpu-snap .gpu-snap-before && tar -xf .gpu-snap/head-files.tar -C .gpu-snap-before
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$out/verify.txt"
cd .gpu-snap

echo "== kernel tests on webgpu (new code)"
LMPROBE_BACKEND=webgpu timeout 150 "$node" scripts/run-tests.mjs test/backend 2>&1 | grep -E "^(✔|✖|﹣|ℹ (tests|pass|fail|skipped))|Error|error" | tee "$out/tests.txt"

echo "== verify on every fixture (webgpu, new code)"
timeout 150 "$node" --import tsx bench/verify-all.mjs --backend webgpu --src 2>&1 | grep -v "^Warning" | tee -a "$out/verify.txt"

echo "== PyTorch baseline"
PYTHONUNBUFFERED=1 timeout 200 python3 bench/torch_baseline.py --save /tmp/lmprobe-models --seq 128,1024 --reps "$reps" > "$out/torch.json" 2> /tmp/torch.err
grep "^{" /tmp/torch.err

bench() { # tree label extra-args...
  local tree=$1 label=$2; shift 2
  echo "== lmprobe benchmark (webgpu): $label"
  (cd "../$tree" && timeout 200 "$node" --import tsx bench/run.mjs --src --backend webgpu --checkpoints /tmp/lmprobe-models \
    --torch "$out/torch.json" --reps "$reps" --out "$out/$label.json" "$@" 2> "/tmp/$label.log" > /dev/null)
  grep '^{' "/tmp/$label.log" | cut -c1-420
}
bench .gpu-snap-before before --models gpt2-small,qwen2.5-0.5b --seq 128,1024 --ablation
bench .gpu-snap after --models gpt2-small,qwen2.5-0.5b --seq 128,1024 --ablation
bench .gpu-snap-before before2 --models gpt2-small --seq 128,1024
bench .gpu-snap after2 --models gpt2-small --seq 128,1024
