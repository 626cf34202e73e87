#!/usr/bin/env bash
# One device call (about 2-6 min on an H100): the webgpu kernel tests, then `lmprobe verify` on every fixture with
# the webgpu backend, once per LMPROBE_PACKED_WEIGHTS value (while the budget allows). In $OUT: verify.json
# (the summary), tests.txt, verify-packed<P>.txt, gpu.txt, log.txt.
#   bash bench/gpu/verify.sh ["1 0"]          (carry [".device"])
# verify-all checks the fixtures present in the tree: with the Node bundle, the tree of fixtures is over one call's
# 64 MiB, so two calls each leave part of test/fixtures out (the second with LMPROBE_VERIFY_TESTS=0, which skips the
# kernel tests); merge their verify.json files.
source "$(dirname "$0")/common.sh"
modes=${1:-1 0}
need_node
gpu_info
first=${modes%% *}
if [ "${LMPROBE_VERIFY_TESTS:-1}" = 1 ]; then
  say "kernel tests on webgpu (LMPROBE_PACKED_WEIGHTS=$first)"
  LMPROBE_PACKED_WEIGHTS=$first LMPROBE_BACKEND=webgpu timeout "$(step_timeout 200)" "$node" scripts/run-tests.mjs test/backend > /tmp/gpu-tests.log 2>&1
  echo "exit $?" >> /tmp/gpu-tests.log
  grep -E "^(✔|✖|﹣|ℹ (tests|pass|fail|skipped))|Error|error|^exit" /tmp/gpu-tests.log > "$out/tests.txt"
  tail -7 "$out/tests.txt"
else
  echo "kernel tests skipped (LMPROBE_VERIFY_TESTS=0)" > "$out/tests.txt"
fi
for p in $modes; do
  if ! within 60; then say "verify with LMPROBE_PACKED_WEIGHTS=$p skipped: $(left) s left"; continue; fi
  say "verify on every fixture (webgpu, LMPROBE_PACKED_WEIGHTS=$p)"
  LMPROBE_PACKED_WEIGHTS=$p timeout "$(step_timeout 240)" "$node" --import tsx bench/verify-all.mjs --backend webgpu --src 2>&1 \
    | grep -v "^Warning" > "$out/verify-packed$p.txt"
  echo "exit ${PIPESTATUS[0]}" >> "$out/verify-packed$p.txt"
  tail -2 "$out/verify-packed$p.txt"
done
python3 - "$out" "${gpu_name:-}" <<'PY'
import glob, json, os, re, sys
out, gpu = sys.argv[1], sys.argv[2]
tests = open(os.path.join(out, "tests.txt")).read()
count = lambda k: int(m.group(1)) if (m := re.search(rf"^ℹ {k} (\d+)", tests, re.M)) else None
exit_line = next((l for l in reversed(tests.splitlines()) if l.startswith("exit ")), "exit ?")
doc = {"gpu": gpu, "tests": {k: count(k) for k in ("tests", "pass", "fail", "skipped")}, "tests_exit": exit_line,
       "tests_failed": [l for l in tests.splitlines() if l.startswith("✖")][:40], "verify": {}}
for path in sorted(glob.glob(os.path.join(out, "verify-packed*.txt"))):
    lines = open(path).read().splitlines()
    mode = path.rsplit("packed", 1)[1][:-4]
    doc["verify"][f"packed={mode}"] = {"exit": lines[-1], "summary": next((l for l in reversed(lines) if "fixtures pass" in l), None),
                                       "failed": [l for l in lines if ": FAIL" in l]}
open(os.path.join(out, "verify.json"), "w").write(json.dumps(doc, indent=1))
print(json.dumps(doc)[:1500])
PY
