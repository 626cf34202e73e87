#!/usr/bin/env bash
# Installs the Debian packages the tests need: Jupyter (runs the example notebooks through
# the lmprobe kernel), Chromium (draws them), Noto CJK and colour-emoji fonts (non-Latin tokens in charts) and
# Mesa's EGL/OpenGL rasteriser (a software WebGPU adapter for the GPU kernel tests). Does nothing when they are
# already installed.
set -euo pipefail
packages=(jupyter-nbconvert python3-nbconvert python3-nbclient python3-ipykernel python3-jupyter-client chromium fonts-dejavu-core fonts-noto-cjk fonts-noto-color-emoji libjs-requirejs libegl1 libegl-mesa0 libgl1-mesa-dri)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "lmprobe tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages for the notebook and browser tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
