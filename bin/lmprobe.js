#!/usr/bin/env node
"use strict";
// The `lmprobe` command. The implementation lives in src/cli (compiled to dist/cjs/cli).
//
// On Linux the command runs in a child process started with the CPU path's malloc settings (GLIBC_TUNABLES, which
// glibc reads only when a process starts; see src/backend/native/malloc-tuning.ts) unless this process already has
// them or LMPROBE_MALLOC_TUNING=0.
const { tunedMallocEnv, mallocTuningActive } = require("../dist/cjs/backend/native/malloc-tuning.js");
const tuned = tunedMallocEnv();
if (process.platform === "linux" && tuned && !mallocTuningActive()) {
  const { spawnSync } = require("node:child_process");
  const child = spawnSync(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, GLIBC_TUNABLES: tuned },
  });
  if (child.error) {
    console.error(`lmprobe: could not start ${process.execPath}: ${child.error.message}`);
    process.exit(1);
  }
  if (child.signal) process.kill(process.pid, child.signal);
  process.exit(child.status ?? 1);
}
require("../dist/cjs/cli/main.js").main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    console.error(err && err.message ? `lmprobe: ${err.message}` : err);
    process.exit(1);
  },
);
