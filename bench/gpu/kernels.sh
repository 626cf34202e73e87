#!/usr/bin/env bash
# One device call (about 3-6 min on an H100): GPU time per kernel over one full probe at T = 1024 (tfjs-webgpu's
# timestamp queries; each dispatch then runs alone, so the sum exceeds a normal probe's time) for GPT-2-small and
# the Llama-3.1-8B shape, once per LMPROBE_PACKED_WEIGHTS value while the budget allows. Dawn's timestamp
# quantization is turned off (on by default, it rounds every timestamp down to 65.5 µs, which made a kernel of
# less than that read 0 or 65.5 µs). Checkpoints are written
# first unless the machine kept them. In $OUT: kernels-packed<P>.json (bench/run.mjs's output: probe_kernel_times
# and forward_kernel_times per case, each also by shapes), kernels.json (the summary), gpu.txt, log.txt.
#   bash bench/gpu/kernels.sh ["1 0"] ["1024 128"]       (carry [".device"]; the second argument: prompt lengths)
# LMPROBE_KERNEL_MODELS: the cases (default "gpt2-small,llama3.1-8b"; qwen2.5-0.5b also); LMPROBE_MATRIX_UNITS=on times the products
# on the matrix units, off on the tiled kernel (unset: lmprobe's default; set, the file names end in -units-<value>).
source "$(dirname "$0")/common.sh"
modes=${1:-1}
seqs=${2:-1024}
need_node
gpu_info
kernel_models=${LMPROBE_KERNEL_MODELS:-gpt2-small,$llama_name}
checkpoints "$kernel_models"
suffix=$([ -z "${LMPROBE_MATRIX_UNITS:-}" ] || echo "-units-$LMPROBE_MATRIX_UNITS")
runs=()
for p in $modes; do
  for T in $seqs; do
    if ! within 120; then say "kernel times with LMPROBE_PACKED_WEIGHTS=$p, T = $T skipped: $(left) s left"; continue; fi
    say "GPU time per kernel in one probe, T = $T (LMPROBE_PACKED_WEIGHTS=$p)"
    LMPROBE_PACKED_WEIGHTS=$p LMPROBE_DAWN_OPTIONS="enable-dawn-features=allow_unsafe_apis;disable-dawn-features=timestamp_quantization" timeout "$(step_timeout 300)" \
      "$node" --require ./bench/native-deps.cjs --import tsx bench/run.mjs --src --backend webgpu --models "$kernel_models" --seq "$T" --checkpoints "$models" \
      --reps 1 --kernel-times --out "$out/kernels-packed$p-T$T$suffix.json" 2>> "$log" > /dev/null || say "kernel-times run exited $? (packed=$p, T=$T)"
    runs+=(--lmprobe "$out/kernels-packed$p-T$T$suffix.json")
  done
done
python3 bench/gpu/merge.py --out "$out/kernels.json" --gpu "${gpu_name:-}" "${runs[@]}" > /dev/null
python3 - "$out/kernels.json" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    for phase in ("forward", "probe"):
        k = c.get(f"{phase}_kernel_times") or {}
        print(json.dumps({"model": c.get("model"), "T": c.get("T"), "phase": phase, "packed": c.get("packed_weights"),
                          "ms": c.get(f"{phase}_ms"), "kernels": k.get("kernels"), "gpu_ms": k.get("gpu_ms"),
                          "top": k.get("top", [])[:6], "skipped": c.get("skipped"), "error": c.get("error")})[:1200])
PY
