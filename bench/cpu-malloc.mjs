#!/usr/bin/env node
// The CPU path with and without its glibc malloc settings (src/backend/native/malloc-tuning.ts), in the same run:
// per case and thread count, one lmprobe worker (bench/cpu-bench-worker.ts) started without GLIBC_TUNABLES and one
// started with it, each alone, forward and probe (median of --reps after --warmup), peak RSS. First, what a page
// fault costs here: filling a fresh 24.5 MiB array against filling it again. One JSON object per line.
//
//   node bench/cpu-malloc.mjs [--cases gpt2-small:128,qwen2.5-1.5b:128] [--threads 1,N] [--reps 5] [--warmup 2]
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";
import { ROOT, median, option } from "./cli.mjs";

register();
const require = createRequire(import.meta.url);

const opt = option;
const all = os.availableParallelism();
const cases = opt("cases", "gpt2-small:128,qwen2.5-1.5b:128").split(",");
const threadList = opt("threads", `1,${all}`).split(",").map(Number);
const reps = Number(opt("reps", 5));
const warmup = Number(opt("warmup", 2));
const { MALLOC_TUNABLES: TUNABLES } = require("../src/backend/native/malloc-tuning.ts");

// The cost of first-touch page faults on this machine (no lmprobe involved).
const faultProbe = `const n = 128 * 50257; const t = []; for (let r = 0; r < 5; r++) { let s = performance.now(); const a = new Float32Array(n); a.fill(1); const f = performance.now() - s; s = performance.now(); a.fill(2); t.push([f, performance.now() - s]); } console.log(JSON.stringify(t));`;
for (const tuned of [false, true]) {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  if (tuned) env.GLIBC_TUNABLES = TUNABLES;
  const r = spawnSync(process.execPath, ["-e", faultProbe], { env, encoding: "utf8" });
  const t = JSON.parse(r.stdout);
  console.log(JSON.stringify({ name: "fresh 24.5 MiB array", malloc_tuning: tuned, fill_fresh_ms: +median(t.map((x) => x[0])).toFixed(2), fill_again_ms: +median(t.map((x) => x[1])).toFixed(2) }));
}

/** Runs one worker: warmup + reps of forward, then of probe; returns medians and peak RSS. */
function measure(model, positions, threads, tuned) {
  const env = { ...process.env, LMPROBE_THREADS: String(threads), LMPROBE_BACKEND: "cpu-native", LMPROBE_MALLOC_TUNING: "0" };
  delete env.GLIBC_TUNABLES;
  if (tuned) env.GLIBC_TUNABLES = TUNABLES;
  const child = spawn(process.execPath, ["--require", path.join(ROOT, "bench/native-deps.cjs"), "--import", "tsx", path.join(ROOT, "bench/cpu-bench-worker.ts"), model, String(positions)], { cwd: ROOT, env, stdio: ["pipe", "pipe", "ignore"] });
  const lines = createInterface({ input: child.stdout });
  const answers = [];
  let wake = null;
  lines.on("line", (line) => {
    if (!line.startsWith("{")) return;
    answers.push(JSON.parse(line));
    if (wake) wake();
  });
  const next = async () => {
    while (answers.length === 0) await new Promise((r) => (wake = r));
    return answers.shift();
  };
  const ask = async (cmd) => {
    child.stdin.write(`${cmd}\n`);
    const a = await next();
    if (a.error) throw new Error(`${model}: ${a.error}`);
    return a;
  };
  return (async () => {
    await next(); // ready
    const out = {};
    for (const phase of ["forward", "probe"]) {
      const ms = [];
      for (let i = 0; i < warmup + reps; i++) {
        const a = await ask(phase);
        if (i >= warmup) ms.push(a.ms);
      }
      out[phase] = median(ms);
    }
    out.rss = (await ask("rss")).peak_rss_mb;
    child.stdin.write("quit\n");
    await new Promise((r) => child.once("exit", r));
    return out;
  })();
}

for (const spec of cases) {
  const [model, t] = spec.split(":");
  const positions = Number(t ?? 128);
  for (const threads of threadList) {
    const plain = await measure(model, positions, threads, false);
    const tuned = await measure(model, positions, threads, true);
    for (const phase of ["forward", "probe"]) {
      console.log(JSON.stringify({
        name: `${model} T=${positions}`, phase, threads,
        default_ms: +plain[phase].toFixed(1), tuned_ms: +tuned[phase].toFixed(1), speedup: +(plain[phase] / tuned[phase]).toFixed(2),
        default_peak_rss_mb: Math.round(plain.rss), tuned_peak_rss_mb: Math.round(tuned.rss), reps,
      }));
    }
  }
}
