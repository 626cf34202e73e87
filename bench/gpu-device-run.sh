#!/usr/bin/env bash
# The GPU benchmark is split into scripts that each fit one device call (600 s): see bench/gpu/ and README's
# "Benchmarks" section for the device commands, one call each, in order:
#   bench/gpu/verify.sh          webgpu kernel tests + `verify` on every fixture (LMPROBE_PACKED_WEIGHTS=1 and 0)
#   bench/gpu/small.sh           PyTorch float32 + bf16 and lmprobe on GPT-2-small / Qwen2.5-0.5B, T = 128 and 1024
#   bench/gpu/llama8b-torch.sh   the Llama-3.1-8B-shaped bf16 checkpoint, disk read rate, PyTorch load/forward/probe
#   bench/gpu/llama8b-lmprobe.sh lmprobe on the same checkpoint: load, RSS, forward/probe, resid_post cache memory
#   bench/gpu/kernels.sh         GPU time per kernel in one probe, GPT-2-small and the 8B shape, T = 1024
# On a machine of one's own (no 600 s limit) this runs them one after another, each into its own folder of $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/out/device}
for part in verify small llama8b-torch llama8b-lmprobe kernels; do
  OUT=$out/$part bash "bench/gpu/$part.sh"
done
