#!/usr/bin/env bash
# Builds .gpu-snap/: the committed tree (git archive HEAD) with the given working files laid over it, so that a
# device run measures one consistent state while other files of the checkout are being edited. Fixtures, the
# demo model, node_modules and .device are links to the checkout's own (they travel once).
#   bash bench/gpu-snapshot.sh [path ...]   (default: the GPU area's files)
set -euo pipefail
cd "$(dirname "$0")/.."
paths=("$@")
[ ${#paths[@]} -eq 0 ] && paths=(src/backend bench test/backend src/tensor/lens-reduction.ts)
rm -rf .gpu-snap && mkdir .gpu-snap
git archive HEAD src bench scripts test/backend test/tensor package.json tsconfig.json | tar -x -C .gpu-snap
for p in "${paths[@]}"; do
  mkdir -p ".gpu-snap/$(dirname "$p")"
  if [ -d "$p" ]; then rm -rf ".gpu-snap/$p"; cp -r "$p" ".gpu-snap/$p"; else cp "$p" ".gpu-snap/$p"; fi
done
rm -rf .gpu-snap/bench/out .gpu-snap/bench/results
ln -s ../node_modules .gpu-snap/node_modules
ln -s ../models .gpu-snap/models
ln -s ../.device .gpu-snap/.device
ln -s ../../test/fixtures .gpu-snap/test/fixtures
grep -qx '/.gpu-snap/' .git/info/exclude || echo '/.gpu-snap/' >> .git/info/exclude
du -sh --apparent-size .gpu-snap
