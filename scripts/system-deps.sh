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
# Another apt or dpkg (unattended upgrades, a second test run) may hold the locks: wait for them (up to
# LMPROBE_APT_LOCK_TIMEOUT seconds, 10 minutes by default) rather than failing at once. DPkg::Lock::Timeout covers
# dpkg's lock; `apt-get update` takes the package lists' lock, which that option does not cover (apt 2.6), so
# that step is retried while the lock is held.
timeout_s=${LMPROBE_APT_LOCK_TIMEOUT:-600}
lock=(-o "DPkg::Lock::Timeout=$timeout_s")
deadline=$(( $(date +%s) + timeout_s ))
until out=$(apt-get "${lock[@]}" update -q 2>&1); do
  if grep -q "Could not get lock" <<<"$out" && [ "$(date +%s)" -lt "$deadline" ]; then
    echo "waiting for another apt to release its lock: $(grep -m1 'Could not get lock' <<<"$out")"
    sleep 5
    continue
  fi
  echo "$out" >&2
  exit 1
done
apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}"
