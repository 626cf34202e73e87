# Sourced by the bench/gpu/ scripts: the project root as working directory, $out (the device tool's $OUT, or
# bench/out/device), a time budget so that a script ends inside one device call, the Node bundle, the GPU's name.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=${OUT:-bench/out/device}; mkdir -p "$out"; out=$(cd "$out" && pwd)
# Checkpoints live outside the tree (they do not travel); a machine that stayed warm finds them again.
models=${LMPROBE_BENCH_MODELS:-/tmp/lmprobe-models}
# One device call may run 600 s; steps are only started, and are cut by `timeout`, inside this budget.
budget=${LMPROBE_BENCH_BUDGET_S:-540}
log=$out/log.txt
: > "$log"
say() { echo "== [$SECONDS s] $*" | tee -a "$log"; }
left() { echo $(( budget - SECONDS )); }
# within SECONDS_NEEDED: true when that many seconds are left in the budget (the step is worth starting).
within() { [ "$(left)" -ge "$1" ]; }
# step_timeout MAX: the timeout for a step, MAX seconds or what is left of the budget less a margin.
step_timeout() { local l=$(( $(left) - 10 )); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }

gpu_info() {
  { nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv 2>&1
    lscpu | grep -E "^Model name|^CPU\(s\)"; free -g | head -2; df -h /tmp | tail -1
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" 2>&1
  } > "$out/gpu.txt"
  gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  say "GPU: ${gpu_name:-none found}"
}

need_node() {
  # LMPROBE_NODE: a Node of this machine instead of the bundle's (a dry run off the GPU machine).
  if [ -n "${LMPROBE_NODE:-}" ]; then node=$LMPROBE_NODE; export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}; return; fi
  [ -f .device/setup.sh ] || { say "no .device/: pack it with ../shared/tools/device-bundle and carry [\".device\"]"; exit 2; }
  bash .device/setup.sh >> "$log" 2>&1 || { say ".device/setup.sh failed (see log.txt)"; exit 2; }
  # setup.sh exports this only to its own shell.
  export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
  node=$PWD/.device/node
}

# Where PyTorch runs and which Llama shape the 8B scripts use (cuda and 8b on the GPU machine; a dry run elsewhere
# can pass LMPROBE_TORCH_DEVICE=cpu LMPROBE_LLAMA_SHAPE=tiny).
torch_device=${LMPROBE_TORCH_DEVICE:-cuda}
llama_shape=${LMPROBE_LLAMA_SHAPE:-8b}
llama_name=llama3.1-8b$([ "$llama_shape" = tiny ] && echo -tiny)
# LMPROBE_BENCH_COLD=1: drop the page cache before each timed load (root on a machine of one's own), so that loads
# read the disk; otherwise the checkpoint is in the page cache (written or read just before) for both programs.
# llama_checkpoint [MAX_S]: writes the Llama-3.1-8B-shaped bf16 checkpoint at $ckpt (5 GB shards; reused when the
# machine kept it) and its summary in $out/checkpoint.json, or ends the script. Its tokenizer files come from
# test/fixtures/tiny/llama3-f16-sharded, which must travel with the call.
llama_checkpoint() {
  ckpt=$models/$llama_name
  say "checkpoint $ckpt ($llama_shape, bf16, 5 GB shards)"
  timeout "$(step_timeout "${1:-300}")" python3 bench/gpu/write_llama_checkpoint.py --out "$ckpt" --shape "$llama_shape" > "$out/checkpoint.json" 2>> "$log" \
    || { say "checkpoint writer failed (see log.txt)"; exit 1; }
  cat "$out/checkpoint.json"
}
cold=${LMPROBE_BENCH_COLD:-0}
page_cache() {
  if [ "$cold" = 1 ]; then sync; if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then echo dropped; else echo "drop refused"; fi
  else echo warm; fi
}

# GPU memory in use, sampled every 200 ms by nvidia-smi while a step runs: gpu_sampler_start FILE; ...; gpu_sampler_stop
gpu_sampler_start() {
  sampler_file=$1
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$sampler_file" 2>/dev/null &
  sampler_pid=$!
}
# Prints {"first_mib":..,"peak_mib":..,"samples":..} for the samples since gpu_sampler_start.
gpu_sampler_stop() {
  kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null
  python3 - "$sampler_file" <<'PY'
import json, sys
xs = [int(l) for l in open(sys.argv[1]) if l.strip().isdigit()]
print(json.dumps({"first_mib": xs[0] if xs else None, "peak_mib": max(xs) if xs else None, "samples": len(xs), "interval_ms": 200}))
PY
}

# An arm of a units A/B: "U" or "U/S" sets LMPROBE_MATRIX_UNITS=U and LMPROBE_MATRIX_UNIT_SPLITK=S (auto: the
# units' own split-K rule; tiled: the tiled kernel's). arm_env ARM prints the env assignments; arm_name ARM a file
# name suffix ("on", "on-split-tiled").
arm_env() { local u=${1%%/*} s=; [ "$1" != "$u" ] && s=${1#*/}; echo "LMPROBE_MATRIX_UNITS=$u LMPROBE_MATRIX_UNIT_SPLITK=${s:-auto}"; }
arm_name() { local u=${1%%/*}; [ "$1" != "$u" ] && echo "$u-split-${1#*/}" || echo "$u"; }

# checkpoints CASES [LLAMA_MAX_S]: the bf16 checkpoints of the comma-separated cases that are missing (GPT-2-small and
# Qwen2.5-0.5B shapes by bench/torch_baseline.py, the Llama-3.1-8B shape by llama_checkpoint).
checkpoints() {
  local small
  for small in gpt2-small qwen2.5-0.5b; do
    case ",$1," in *",$small,"*) ;; *) continue ;; esac
    [ -f "$models/$small/config.json" ] && continue
    say "$small checkpoint (bf16)"
    timeout "$(step_timeout 120)" python3 bench/torch_baseline.py --save "$models" --save-dtype bfloat16 --models "$small" \
      --dtypes float32 --seq 128 --reps 1 --device "$torch_device" > /dev/null 2>> "$log"
  done
  case ",$1," in *",$llama_name,"*) llama_checkpoint "${2:-300}" ;; esac
}
