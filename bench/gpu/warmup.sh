#!/usr/bin/env bash
# One device call (about 2 min): each pass's time over many repeated webgpu passes from a fresh process, under each
# set of Node/V8 flags given (";"-separated; "" is Node's defaults), with the SM clock sampled alongside. It shows how
# many passes a process takes to reach its steady time, and what the early passes spend it on.
#   bash bench/gpu/warmup.sh [model=gpt2-small] [T=128] [phase=forward] [passes=100] [flag sets]   (carry [".device"])
# In $OUT: warmup.jsonl (one line per flag set: every pass's ms), clocks-<i>.csv, gpu.txt, log.txt.
source "$(dirname "$0")/common.sh"
need_node
gpu_info
model=${1:-gpt2-small}; T=${2:-128}; phase=${3:-forward}; passes=${4:-100}
IFS=";" read -r -a sets <<< "${5:-;--max-semi-space-size=64;--interrupt-budget=8000;--no-opt --no-maglev}"
[ "${5:-x}" = "" ] && sets=("")
: > "$out/warmup.jsonl"
i=0
for flags in "${sets[@]}"; do
  if ! within 40; then say "flags [$flags] skipped: $(left) s left"; continue; fi
  say "flags [$flags]"
  nvidia-smi --query-gpu=timestamp,clocks.sm,utilization.gpu --format=csv,noheader -lms 100 > "$out/clocks-$i.csv" 2>/dev/null &
  sampler=$!
  # shellcheck disable=SC2086
  ms=$( { for _ in $(seq 1 "$passes"); do echo "$phase"; done; echo quit; } \
    | timeout "$(step_timeout 200)" "$node" $flags --require ./bench/native-deps.cjs --import tsx bench/cpu-bench-worker.ts "$model" "$T" 2>> "$log" \
    | grep '"ms"' | sed 's/.*"ms":\([0-9.]*\).*/\1/' | paste -sd, -)
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  echo "{\"flags\":\"$flags\",\"model\":\"$model\",\"T\":$T,\"phase\":\"$phase\",\"ms\":[${ms}]}" >> "$out/warmup.jsonl"
  i=$((i + 1))
done
python3 - "$out/warmup.jsonl" <<'PY'
import json, sys, statistics as st
for line in open(sys.argv[1]):
    r = json.loads(line); ms = r["ms"]
    if not ms: print(r["flags"], "no passes"); continue
    q = lambda a, b: round(st.median(ms[a:b]), 2) if ms[a:b] else None
    print(f'[{r["flags"]}] first {ms[0]:.0f} ms; medians: passes 2-5 {q(1,5)}, 6-15 {q(5,15)}, 16-40 {q(15,40)}, 41-{len(ms)} {q(40,len(ms))}')
PY
