#!/usr/bin/env node
// This tree against an earlier commit, in the same run, on one backend: both trees' bench/cpu-bench-worker.ts (the
// forward and probe of bench/cpu-vs-torch.mjs) started afresh for each round and phase, the two sides alternated
// (this, base, base, this, …) so that the machine's drift reaches both alike. One JSON line per round and side, then one summary
// line per case and phase: medians over rounds of each side's per-round median, and base ÷ this (> 1: this is faster).
//
//   node bench/ab.mjs --base REV | --base-tree DIR [--backend cpu-native|webgpu|…] [--cases demo:128,gpt2-small:128]
//        [--phases forward,probe] [--rounds 6] [--reps 21] [--warmup 3] [--threads N]
// --warmup: untimed calls before the timed ones (on a GPU a fresh process takes tens of passes to reach its steady
// time: bench/results/gpu-h100/warmup/).
// The base tree is `git archive REV` of src/, bench/, models/ and the package files in a temporary directory, with
// this checkout's node_modules linked in (so a base whose dependencies differ is not comparable this way). Where
// there is no git history (the lent GPU machine gets a copy of the working tree), --base-tree names such a tree
// made beforehand (`git archive REV src bench models package.json tsconfig.json | tar -x -C DIR`).
// --backend sets LMPROBE_BACKEND for both sides (default: what each picks, cpu-native on a machine without a GPU).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";
import { ROOT, median, option } from "./cli.mjs";

register();
const require = createRequire(import.meta.url);
const opt = option;
const base = opt("base", null);
const baseTree = opt("base-tree", null);
if (!base === !baseTree) {
  console.error("ab: give one of --base REV (the commit to compare this tree with) or --base-tree DIR (that commit's files)");
  process.exit(2);
}
const backend = opt("backend", null);
const cases = opt("cases", "demo:128,gpt2-small:128").split(",").map((c) => c.split(":"));
const phases = opt("phases", "forward,probe").split(",");
const rounds = Number(opt("rounds", 6));
const reps = Number(opt("reps", 21));
const warmup = Number(opt("warmup", 3));
const threads = opt("threads", String(os.availableParallelism()));
// Both sides start with the malloc settings the `lmprobe` command gives its process (as cpu-vs-torch.mjs does).
const { MALLOC_TUNABLES } = require("../src/backend/native/malloc-tuning.ts");

const rev = base ? execFileSync("git", ["rev-parse", "--short", base], { cwd: ROOT, encoding: "utf8" }).trim() : path.basename(baseTree);
const baseDir = base ? fs.mkdtempSync(path.join(os.tmpdir(), `lmprobe-ab-${rev}-`)) : path.resolve(baseTree);
if (base) {
  const archive = spawnSync("git", ["archive", rev, "src", "bench", "models", "package.json", "tsconfig.json"], { cwd: ROOT, maxBuffer: 1 << 30 });
  if (archive.status !== 0) throw new Error(`git archive ${rev}: ${archive.stderr}`);
  execFileSync("tar", ["-x", "-C", baseDir], { input: archive.stdout });
}
if (!fs.existsSync(path.join(baseDir, "node_modules"))) fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(baseDir, "node_modules"));

/** One worker of `tree` on case c: `reps` timed calls of `phase` after `warmup` others; their median and fastest in ms. */
function timeOnce(tree, [model, positions], phase) {
  const env = { ...process.env, LMPROBE_THREADS: threads, ...(backend ? { LMPROBE_BACKEND: backend } : {}) };
  delete env.GLIBC_TUNABLES;
  if (process.platform === "linux") env.GLIBC_TUNABLES = MALLOC_TUNABLES;
  const input = `${Array.from({ length: reps + warmup }, () => phase).join("\n")}\nquit\n`;
  const out = spawnSync(process.execPath, ["--require", path.join(ROOT, "bench/native-deps.cjs"), "--import", "tsx", path.join(tree, "bench/cpu-bench-worker.ts"), model, positions], { cwd: tree, env, input, encoding: "utf8", maxBuffer: 1 << 26 });
  if (out.status !== 0) throw new Error(`worker in ${tree} exited ${out.status}: ${out.stderr.slice(-2000)}`);
  const ms = out.stdout.split("\n").filter((l) => l.startsWith('{"ms"')).map((l) => JSON.parse(l).ms).slice(warmup);
  return { median: median(ms), fastest: Math.min(...ms) };
}

try {
  for (const c of cases) {
    for (const phase of phases) {
      const sides = { this: [], base: [] };
      // Each round's fastest call too: where a pass is bound by the host (small models on a GPU), a round's median
      // moves with whatever else the machine runs, its fastest call less.
      const fastest = { this: [], base: [] };
      for (let r = 0; r < rounds; r++) {
        // ABBA: the side that goes first alternates, so that an order effect (a warmer machine for the second
        // worker, a neighbour's load arriving mid-round) reaches both sides alike.
        const order = [["this", ROOT], ["base", baseDir]];
        for (const [side, tree] of r % 2 === 0 ? order : order.reverse()) {
          const ms = timeOnce(tree, c, phase);
          sides[side].push(ms.median);
          fastest[side].push(ms.fastest);
          console.log(JSON.stringify({ case: c.join(":"), phase, round: r + 1, side, rev: side === "base" ? rev : "working tree", median_ms: +ms.median.toFixed(2), fastest_ms: +ms.fastest.toFixed(2) }));
        }
      }
      const [mThis, mBase] = [median(sides.this), median(sides.base)];
      const faster = sides.this.filter((ms, i) => ms < sides.base[i]).length;
      console.log(JSON.stringify({ case: c.join(":"), phase, summary: true, base: rev, backend: backend ?? "default", threads: Number(threads), rounds, reps, warmup, this_ms: +mThis.toFixed(2), base_ms: +mBase.toFixed(2), speedup: +(mBase / mThis).toFixed(3), rounds_this_faster: faster, this_fastest_ms: +Math.min(...fastest.this).toFixed(2), base_fastest_ms: +Math.min(...fastest.base).toFixed(2), speedup_fastest: +(Math.min(...fastest.base) / Math.min(...fastest.this)).toFixed(3), this_all: sides.this.map((x) => +x.toFixed(1)), base_all: sides.base.map((x) => +x.toFixed(1)) }));
    }
  }
} finally {
  if (base) fs.rmSync(baseDir, { recursive: true, force: true });
}
