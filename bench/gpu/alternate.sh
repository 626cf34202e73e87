#!/usr/bin/env bash
# One device call (about 4-6 min on an H100 for the default cases): an A/B of a policy read at each call, inside one
# lmprobe process per model (bench/run.mjs --alternate: the forward and the probe with VAR set to each value in
# turn, rounds alternated), then PyTorch float32 on the same checkpoints for the ratios. Separate processes on the
# GPU machine differed by up to 50% on the same code (bench/results/gpu-h100/units-split-k-processes/), which an
# A/B between processes cannot tell from the change. In $OUT: alternate-<model>.json (bench/run.mjs's output, with
# `alternate` per case), torch-float32.json, alternate.json (merge.py's summary), gpu.txt, log.txt.
#   bash bench/gpu/alternate.sh VAR=a,b [models=gpt2-small,qwen2.5-0.5b,llama3.1-8b] [seqs=128,1024] [reps=5] [rounds=5]
#   (carry [".device"]; checkpoints are written first unless the machine kept them)
source "$(dirname "$0")/common.sh"
spec=${1:?usage: alternate.sh VAR=a,b [models] [seqs] [reps] [rounds]}
cases=${2:-gpt2-small,qwen2.5-0.5b,$llama_name}
seqs=${3:-128,1024}
reps=${4:-5}
rounds=${5:-5}
need_node
gpu_info
checkpoints "$cases" 120
runs=()
for m in ${cases//,/ }; do
  if ! within 60; then say "$m skipped: $(left) s left"; continue; fi
  say "lmprobe $m, alternating $spec"
  LMPROBE_PACKED_WEIGHTS=1 timeout "$(step_timeout 240)" "$node" --require ./bench/native-deps.cjs --import tsx bench/run.mjs --src --backend webgpu \
    --models "$m" --seq "$seqs" --checkpoints "$models" --reps "$reps" --alternate "$spec" --rounds "$rounds" \
    --out "$out/alternate-$m.json" 2>> "$log" > /dev/null || say "lmprobe $m exited $?"
  runs+=(--lmprobe "$out/alternate-$m.json")
done
python3 - "$out" <<'PY'
import glob, json, sys
for f in sorted(glob.glob(sys.argv[1] + "/alternate-*.json")):
    for r in json.load(open(f))["results"]:
        a = r.get("alternate") or {}
        print(json.dumps({"model": r.get("model"), "T": r.get("T"), **{k: v for k, v in a.items() if "rounds" not in k}, "error": r.get("error")}))
PY
if within 45; then
  say "PyTorch float32, same call"
  PYTHONUNBUFFERED=1 timeout "$(step_timeout 200)" python3 bench/torch_baseline.py --load "$models" --models "$cases" --dtypes float32 \
    --seq "$seqs" --reps "$reps" --device "$torch_device" > "$out/torch-float32.json" 2>> "$log" || say "PyTorch exited $?"
  python3 bench/gpu/merge.py --out "$out/alternate.json" --gpu "${gpu_name:-}" --torch "$out/torch-float32.json" "${runs[@]}" 2>> "$log" > /dev/null
else
  say "PyTorch skipped: $(left) s left"
fi
