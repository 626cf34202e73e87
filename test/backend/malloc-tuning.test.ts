// The CPU path's glibc malloc settings (backend/native/malloc-tuning.ts): how they merge with a user's own
// GLIBC_TUNABLES, that the Jupyter kernel's spec and the `lmprobe` command start their process with them on Linux,
// and that doctor says whether this process has them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { MALLOC_TUNABLES, mallocTuningActive, tunedMallocEnv } from "../../src/backend/native/malloc-tuning";
import { kernelSpec } from "../../src/cli/install-kernel";
import { mallocLine } from "../../src/cli/doctor";

test("the settings merge with a user's GLIBC_TUNABLES (theirs win), and are left out off Linux or when turned off", () => {
  assert.equal(tunedMallocEnv({}, "linux"), MALLOC_TUNABLES);
  assert.equal(tunedMallocEnv({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }, "linux"), `glibc.malloc.arena_max=2:${MALLOC_TUNABLES}`);
  // A user's own mmap threshold is kept; only the trim threshold is added.
  const mine = tunedMallocEnv({ GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536" }, "linux")!;
  assert.equal(mine, "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=1073741824");
  assert.equal(mallocTuningActive({ GLIBC_TUNABLES: mine }), true, "the user's values for the same tunables count");
  assert.equal(tunedMallocEnv({}, "darwin"), undefined);
  assert.equal(tunedMallocEnv({ LMPROBE_MALLOC_TUNING: "0" }, "linux"), undefined);
  assert.equal(tunedMallocEnv({ LMPROBE_MALLOC_TUNING: "0", GLIBC_TUNABLES: "glibc.malloc.arena_max=2" }, "linux"), "glibc.malloc.arena_max=2");
  assert.equal(mallocTuningActive({}), false);
  assert.equal(mallocTuningActive({ GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=268435456" }), false, "both tunables are needed");
});

test("the kernel's spec starts its process with the settings on Linux only", () => {
  const linux = kernelSpec("/pkg", "/spec", "/node", "linux") as { env: Record<string, string> };
  assert.ok(mallocTuningActive({ GLIBC_TUNABLES: linux.env.GLIBC_TUNABLES }), JSON.stringify(linux.env));
  assert.ok(linux.env.NODE_PATH.includes("/spec"), "NODE_PATH is still set");
  const mac = kernelSpec("/pkg", "/spec", "/node", "darwin") as { env: Record<string, string> };
  assert.equal(mac.env.GLIBC_TUNABLES, undefined);
});

test("doctor says whether this process has the settings", () => {
  assert.match(mallocLine({ GLIBC_TUNABLES: MALLOC_TUNABLES }, "linux"), /^malloc tuning: on/);
  assert.match(mallocLine({}, "linux"), /^malloc tuning: off; .*GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold/);
  assert.match(mallocLine({}, "darwin"), /not needed off Linux/);
});

test("the lmprobe command runs with the settings, and without them under LMPROBE_MALLOC_TUNING=0", { skip: process.platform !== "linux" && "Linux only" }, () => {
  const bin = path.join(__dirname, "../../bin/lmprobe.js");
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  delete env.LMPROBE_MALLOC_TUNING;
  // The child's own /proc/self/environ is what glibc read at its start; doctor's line reports the same variable.
  const on = spawnSync(process.execPath, [bin, "doctor"], { encoding: "utf8", env: { ...env, LMPROBE_BACKEND: "cpu" } });
  assert.equal(on.status, 0, on.stderr);
  assert.match(on.stdout, /^malloc tuning: on \(GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=268435456/m);
  const off = spawnSync(process.execPath, [bin, "doctor"], { encoding: "utf8", env: { ...env, LMPROBE_BACKEND: "cpu", LMPROBE_MALLOC_TUNING: "0" } });
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /^malloc tuning: off/m);
});
