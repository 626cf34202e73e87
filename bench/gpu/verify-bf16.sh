#!/usr/bin/env bash
# One device call (about 1-3 min): bf16 copies of the fixtures present in the tree, each with a reference that
# transformers computes from the bf16 values (scripts/fixtures/make_bf16_fixtures.py, on the CPU), then `lmprobe
# verify` on every copy with the webgpu backend and weights kept packed (LMPROBE_PACKED_WEIGHTS=1). With the Node
# bundle, all fixtures are over one call's 64 MiB: run it twice with part of test/fixtures left out each time, as
# for verify.sh. In $OUT: verify-bf16.json (the summary), make-bf16.txt, verify-bf16.txt, gpu.txt, log.txt.
#   bash bench/gpu/verify-bf16.sh          (carry [".device"])
# LMPROBE_MATRIX_UNITS=all: every packed product on the GPU's matrix units, however small (the summary then says how
# many products ran there).
source "$(dirname "$0")/common.sh"
need_node
gpu_info
copies=${LMPROBE_BF16_FIXTURES:-/tmp/lmprobe-bf16-fixtures}
rm -rf "$copies"
say "bf16 copies of the fixtures and their transformers references -> $copies"
timeout "$(step_timeout 300)" python3 scripts/fixtures/make_bf16_fixtures.py --fixtures test/fixtures --out "$copies" > "$out/make-bf16.txt" 2>&1
echo "exit $?" >> "$out/make-bf16.txt"
grep -v "^\s*$" "$out/make-bf16.txt" | grep -E "FAILED|^exit|^\{" | cut -c1-600
say "verify on every bf16 copy (webgpu, LMPROBE_PACKED_WEIGHTS=1)"
LMPROBE_PACKED_WEIGHTS=1 timeout "$(step_timeout 240)" "$node" --import tsx bench/verify-all.mjs --backend webgpu --src --fixtures "$copies" 2>&1 \
  | grep -v "^Warning" > "$out/verify-bf16.txt"
echo "exit ${PIPESTATUS[0]}" >> "$out/verify-bf16.txt"
tail -3 "$out/verify-bf16.txt"
python3 - "$out" "${gpu_name:-}" <<'PY'
import json, os, sys
out, gpu = sys.argv[1], sys.argv[2]
make = open(os.path.join(out, "make-bf16.txt")).read().splitlines()
made = next((json.loads(l) for l in reversed(make) if l.startswith("{")), None)
lines = open(os.path.join(out, "verify-bf16.txt")).read().splitlines()
doc = {"gpu": gpu, "packed_weights": "1", "copies": made, "verify_exit": lines[-1] if lines else None,
       "summary": next((l for l in reversed(lines) if "fixtures pass" in l), None),
       "matrix_units": os.environ.get("LMPROBE_MATRIX_UNITS"),
       "matrix_unit_products": next((l for l in lines if l.startswith("matrix units:")), None),
       "per_fixture": [l for l in lines if ": PASS" in l or ": FAIL" in l],
       "rounding": [l.split(";")[0] for l in make if "tensors in bf16" in l]}
open(os.path.join(out, "verify-bf16.json"), "w").write(json.dumps(doc, indent=1))
print(json.dumps({k: doc[k] for k in ("summary", "verify_exit", "matrix_unit_products")}))
PY
