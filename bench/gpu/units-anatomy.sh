#!/usr/bin/env bash
# One device call (about 1-3 min on an H100): bench/gpu/units-anatomy.mjs, where the matrix units' product kernel
# spends its GPU time (parts of its loop left out, each variant timed by GPU timestamps) and its two stagings
# against each other, bit for bit. In $OUT: units-anatomy.json, gpu.txt, log.txt.
#   bash bench/gpu/units-anatomy.sh [extra args for units-anatomy.mjs]      (carry [".device"])
source "$(dirname "$0")/common.sh"
need_node
gpu_info
say "matrix units' kernel, parts left out"
# Dawn rounds timestamps down to 65.5 µs unless its timestamp quantization is off (bench/gpu/kernels.sh).
LMPROBE_DAWN_OPTIONS="enable-dawn-features=allow_unsafe_apis;disable-dawn-features=timestamp_quantization" timeout "$(step_timeout 400)" \
  "$node" --import tsx bench/gpu/units-anatomy.mjs --out "$out/units-anatomy.json" "$@" 2>> "$log" > /dev/null || say "units-anatomy exited $?"
grep '^{' "$log" | cut -c1-900
