// V8 compiles the lens's and the layer similarity's table builders a few times and keeps the code, in the built
// package (what a notebook and the CLI load) and in the CPU benchmarks' workers (the TypeScript sources under tsx,
// with Arquero preloaded by bench/native-deps.cjs). When tsx transformed Arquero to CommonJS instead, V8 compiled
// lensTables and perPositionTable again after nearly every probe and threw the code away (111 and 188 aborted
// compiles in 800 demo probes, ~30 s of compiling: bench/results/cpu/v8-aborted-compiles-demo-probe.json), on a
// background thread that took the core onnxruntime's second thread needs, so the benchmarks timed a slower lmprobe
// than users run. Each case runs 300 probes with --trace-opt and counts the compiles V8 completes and aborts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const LOOP = path.join(__dirname, "probe-loop.cjs");
const PROBES = 300;

function compiles(nodeArgs: string[], from: "dist" | "src"): Record<string, { completed: number; aborted: number }> {
  const child = spawnSync(process.execPath, [...nodeArgs, "--trace-opt", LOOP, String(PROBES), from], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20, timeout: 240_000 });
  assert.equal(child.status, 0, `the probe loop failed: ${child.stderr.slice(-2000)}`);
  const lines = child.stdout.split("\n");
  const count = (prefix: string, name: string) => lines.filter((l) => l.startsWith(prefix) && l.includes(`<JSFunction ${name} `)).length;
  return Object.fromEntries(["lensTables", "perPositionTable"].map((name) => [name, { completed: count("[completed optimizing", name), aborted: count("[aborted optimizing", name) }]));
}

function assertKept(counts: ReturnType<typeof compiles>): void {
  for (const [name, { completed, aborted }] of Object.entries(counts)) {
    // A loop too short for V8 to optimize them would prove nothing.
    assert.ok(completed >= 1, `${name} was never optimized in ${PROBES} probes (${aborted} aborted compiles)`);
    assert.ok(aborted <= 10, `${name}: ${aborted} aborted compiles in ${PROBES} probes (${completed} completed)`);
  }
}

test("the built package: V8 keeps its compiled table builders over 300 demo probes", () => {
  assert.ok(fs.existsSync(path.join(ROOT, "dist/cjs/probe/logit-lens.js")), "dist/cjs is missing: npm run build (npm test builds it)");
  assertKept(compiles([], "dist"));
});

test("the benchmarks' workers (sources under tsx, Arquero preloaded): V8 keeps its compiled table builders", () => {
  assertKept(compiles(["--require", path.join(ROOT, "bench/native-deps.cjs"), "--import", "tsx"], "src"));
});
