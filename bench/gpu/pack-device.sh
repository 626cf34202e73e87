#!/usr/bin/env bash
# Packs .device/ (Node and node_modules for the GPU machine) with ../shared/tools/device-bundle, leaving out the
# packages that only the CPU tests use and that the bundle script does not drop: node-llama-cpp's prebuilt
# binaries (~700 MB, CUDA and Vulkan builds included) would make the bundle ~300 MB, far over one device call's
# 64 MiB; without them it is ~43 MB. They are moved aside while packing and always put back.
#   bash bench/gpu/pack-device.sh [device-bundle options]
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${LMPROBE_DEVICE_BUNDLE:-../shared/tools/device-bundle}
[ -x "$bundle" ] || { echo "no device-bundle at $bundle (set LMPROBE_DEVICE_BUNDLE)" >&2; exit 2; }
aside=$(mktemp -d)
moved=()
restore() { for p in "${moved[@]}"; do mv "$aside/$(basename "$p")" "$p"; done; rmdir "$aside"; }
trap restore EXIT
for p in node_modules/node-llama-cpp node_modules/@node-llama-cpp; do
  if [ -e "$p" ]; then mv "$p" "$aside/"; moved+=("$p"); fi
done
"$bundle" "$@"
