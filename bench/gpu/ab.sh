#!/usr/bin/env bash
# One device call (2-8 min): bench/ab.mjs on the GPU, this tree against an earlier commit's files on webgpu. The
# device gets a copy of the working tree without git history, so make the base tree here first (about 3 MB without
# models/, which the base then shares; the path is git-ignored, so carry it):
#   rm -rf bench/gpu/base-tree && mkdir bench/gpu/base-tree && git archive REV src bench package.json tsconfig.json \
#     | tar -x -C bench/gpu/base-tree && ln -s ../../../models bench/gpu/base-tree/models
#   bash bench/gpu/ab.sh [base tree] [cases] [phases] [rounds] [reps] [warmup=20]   (carry [".device", "bench/gpu/base-tree"])
# In $OUT: ab.jsonl (one line per round and side, a summary per case and phase: base ÷ this), gpu.txt, log.txt.
source "$(dirname "$0")/common.sh"
need_node
gpu_info
tree=${1:-bench/gpu/base-tree}
[ -d "$tree/src" ] || { say "no base tree at $tree (see the comment at the top of this script)"; exit 2; }
say "ab: this tree against $tree on webgpu"
timeout "$(step_timeout 520)" "$node" bench/ab.mjs --base-tree "$tree" --backend webgpu --cases "${2:-gpt2-small:128,gpt2-small:512}" \
  --phases "${3:-forward,probe}" --rounds "${4:-2}" --reps "${5:-11}" --warmup "${6:-20}" > "$out/ab.jsonl" 2>> "$log" || say "ab exited $?"
grep summary "$out/ab.jsonl"
