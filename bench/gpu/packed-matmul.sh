#!/usr/bin/env bash
# One device call (about 1-3 min): bench/gpu/packed-matmul.mjs, the tiled matmul's load schemes v1 and v2 side by
# side (packed bf16 and float32 weights; Llama-3.1-8B and GPT-2-small shapes, M = 128 and 1024). In $OUT:
# packed-matmul.json, gpu.txt, log.txt.
#   bash bench/gpu/packed-matmul.sh [extra args for packed-matmul.mjs]      (carry [".device"])
source "$(dirname "$0")/common.sh"
need_node
gpu_info
say "packed matmul v1 vs v2"
LMPROBE_DAWN_OPTIONS="enable-dawn-features=allow_unsafe_apis" timeout "$(step_timeout 500)" \
  "$node" --import tsx bench/gpu/packed-matmul.mjs --out "$out/packed-matmul.json" "$@" 2>> "$log" > /dev/null \
  || say "packed-matmul exited $?"
grep '^{' "$log" | cut -c1-400
