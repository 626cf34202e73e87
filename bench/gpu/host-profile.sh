#!/usr/bin/env bash
# One device call (about 1 min): where the host's time goes in steady webgpu forwards. Runs bench/cpu-bench-worker.ts
# (GPT-2-small shape, random weights, or the case given) for 60 forwards, once plain (times) and once under
# node --cpu-prof. Summarise the last N ms of the profile (the steady forwards, not the build) with
#   node bench/cpu-profile-top.mjs $files_at/prof --last-ms 450
#   bash bench/gpu/host-profile.sh [model] [positions] [phase]      (carry [".device"])
source "$(dirname "$0")/common.sh"
need_node
gpu_info
cmds() { for _ in $(seq 1 60); do echo "${3:-forward}"; done; echo quit; }
say "plain"
cmds "$@" | timeout 200 "$node" --require ./bench/native-deps.cjs --import tsx bench/cpu-bench-worker.ts "${1:-gpt2-small}" "${2:-128}" > "$out/plain.jsonl" 2>> "$log"
say "profiled"
cmds "$@" | timeout 200 "$node" --cpu-prof --cpu-prof-dir="$out/prof" --cpu-prof-interval 100 --require ./bench/native-deps.cjs --import tsx bench/cpu-bench-worker.ts "${1:-gpt2-small}" "${2:-128}" > "$out/profiled.jsonl" 2>> "$log"
ls -la "$out/prof"
