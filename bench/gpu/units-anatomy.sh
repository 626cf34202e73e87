#!/usr/bin/env bash
# One device call (about 2-4 min on an H100): bench/gpu/units-anatomy.mjs, where the matrix units' product kernel
# spends its time (parts of its loop over K left out, the variants taking turns in rounds) and its two stagings
# against each other, bit for bit. In $OUT: units-anatomy.json, gpu.txt, log.txt.
#   bash bench/gpu/units-anatomy.sh [extra args for units-anatomy.mjs]      (carry [".device"])
source "$(dirname "$0")/common.sh"
need_node
gpu_info
say "matrix units' kernel, parts left out"
timeout "$(step_timeout 400)" "$node" --import tsx bench/gpu/units-anatomy.mjs --out "$out/units-anatomy.json" "$@" 2>> "$log" > /dev/null || say "units-anatomy exited $?"
grep '^{' "$log" | cut -c1-900
