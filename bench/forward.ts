// Benchmark: the engine's forward pass and generation on one backend (wasm by default: the CPU path of machines
// without a GPU).
//
//   node --import tsx bench/forward.ts [--backend wasm|cpu] [--reps 15] [--only demo|gpt2] [--baseline DIR] [--out FILE]
//
// Cases:
//   demo T=24, demo T=128     LanguageModel.run on the embedded demo model (4 layers, d 256, vocab 1024); T=24
//                             also with a no-op hook on every hook point (hooks must add no kernels)
//   demo generate 16          generate() of 16 tokens after a 24-token prompt, with the key/value cache, greedy
//   gpt2 T=128                a GPT-2-small-shaped model (124M parameters, 12 layers, d 768, vocab 50257, tied),
//                             weights drawn at random and converted by the real gpt2 converter
// Each case reports the median milliseconds over --reps calls (after two warm-up calls) and the number of tfjs
// kernels one call runs (tf.profile). --baseline DIR runs the same cases, interleaved in the same process, with
// the engine of another checkout (DIR/src, e.g. a copy of an earlier src/), and adds the ratios baseline / this.
// Prints one JSON document (and writes it to --out when given).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";

const ROOT = path.resolve(__dirname, "..");

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The engine entry points the cases need, from one checkout's src/. */
interface Engine {
  label: string;
  buildModel: (checkpoint: unknown, name?: string) => Model;
  openCheckpoint: (dir: string) => { config: unknown; weights: { close(): void }; tokenizer: unknown; dir: string };
  normalizeConfig: (raw: unknown, file: string) => unknown;
}
interface Model {
  run(input: number[], opts?: object): { dispose(): void };
  runWithHooks(input: number[], hooks: Record<string, () => void>, opts?: object): { dispose(): void };
  hookPoints(): string[];
  generate(input: number[], opts: object): Promise<{ newTokens: number[][]; dispose(): void }>;
  dispose(): void;
}

function loadEngine(dir: string, label: string): Engine {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const req = (p: string) => require(path.join(dir, "src", p));
  return { label, buildModel: req("model/build").buildModel, openCheckpoint: req("io/checkpoint").openCheckpoint, normalizeConfig: req("io/config").normalizeConfig };
}

/** Random values in [-scale, scale) (xorshift32: fast enough for 124M weights, and the same every run). */
function randomFloats(count: number, seed: number, scale: number, offset = 0): Float32Array {
  const out = new Float32Array(count);
  let x = seed | 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = offset + ((x >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

const GPT2_SMALL = { n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257, n_positions: 1024 };

/** An in-memory WeightSource of a GPT-2-small-shaped checkpoint: each tensor generated when the converter reads it. */
function gpt2WeightSource() {
  const { n_embd: d, n_layer, vocab_size, n_positions } = GPT2_SMALL;
  const shapes: Record<string, number[]> = { "wte.weight": [vocab_size, d], "wpe.weight": [n_positions, d], "ln_f.weight": [d], "ln_f.bias": [d] };
  for (let l = 0; l < n_layer; l++) {
    const p = `h.${l}.`;
    Object.assign(shapes, {
      [p + "ln_1.weight"]: [d], [p + "ln_1.bias"]: [d], [p + "ln_2.weight"]: [d], [p + "ln_2.bias"]: [d],
      [p + "attn.c_attn.weight"]: [d, 3 * d], [p + "attn.c_attn.bias"]: [3 * d],
      [p + "attn.c_proj.weight"]: [d, d], [p + "attn.c_proj.bias"]: [d],
      [p + "mlp.c_fc.weight"]: [d, 4 * d], [p + "mlp.c_fc.bias"]: [4 * d],
      [p + "mlp.c_proj.weight"]: [4 * d, d], [p + "mlp.c_proj.bias"]: [d],
    });
  }
  const names = Object.keys(shapes).sort();
  return {
    origin: "random gpt2-small",
    names: () => names,
    has: (n: string) => n in shapes,
    info: (n: string) => ({ name: n, dtype: "F32" as const, shape: shapes[n], file: "(memory)" }),
    read: (n: string) => {
      const size = shapes[n].reduce((a, b) => a * b, 1);
      const isGain = /ln_[12f]?\.weight$/.test(n);
      return randomFloats(size, names.indexOf(n) * 2654435761 + 7, isGain ? 0.1 : 0.05, isGain ? 1 : 0);
    },
    close: () => {},
  };
}

function buildGpt2(engine: Engine): Model {
  const demo = engine.openCheckpoint(path.join(ROOT, "models/lmprobe-demo"));
  demo.weights.close();
  const config = engine.normalizeConfig({ model_type: "gpt2", activation_function: "gelu_new", layer_norm_epsilon: 1e-5, ...GPT2_SMALL }, "(gpt2-small config)");
  return engine.buildModel({ dir: "(memory)", config, weights: gpt2WeightSource(), tokenizer: demo.tokenizer }, "gpt2-small-random");
}

function buildDemo(engine: Engine): Model {
  const checkpoint = engine.openCheckpoint(path.join(ROOT, "models/lmprobe-demo"));
  try {
    return engine.buildModel(checkpoint, "demo");
  } finally {
    checkpoint.weights.close();
  }
}

/** Token ids 1… of length t, varied so that attention is not trivial (any id < vocab will do). */
function ids(t: number, vocab: number): number[] {
  return Array.from({ length: t }, (_, i) => 1 + ((i * 7919) % (vocab - 1)));
}

interface Case {
  name: string;
  model: "demo" | "gpt2";
  /** One call of the case (synchronous backends finish the work before returning). */
  call: (m: Model) => Promise<void>;
}

const CASES: Case[] = [
  { name: "demo forward T=24", model: "demo", call: async (m) => m.run(ids(24, 1024)).dispose() },
  {
    // Hooks that return nothing on every hook point: the same kernels as no hooks, so the time shows their JS cost.
    name: "demo forward T=24, a no-op hook on every hook point",
    model: "demo",
    call: async (m) => m.runWithHooks(ids(24, 1024), Object.fromEntries(m.hookPoints().map((n) => [n, () => undefined]))).dispose(),
  },
  { name: "demo forward T=128", model: "demo", call: async (m) => m.run(ids(128, 1024)).dispose() },
  {
    name: "demo generate 16 tokens (kv cache, prompt 24)",
    model: "demo",
    call: async (m) => (await m.generate(ids(24, 1024), { maxNewTokens: 16, stopAtEos: false, useCache: true })).dispose(),
  },
  { name: "gpt2-small forward T=128", model: "gpt2", call: async (m) => m.run(ids(128, 50257)).dispose() },
];

/**
 * Median milliseconds of one call per engine. Engines alternate call by call (in alternating order), so that a
 * change in the machine's load, shared with other work, reaches all of them alike.
 */
async function timeCase(c: Case, models: Model[], reps: number): Promise<{ msMedian: number; msAll: number[] }[]> {
  for (const m of models) for (let i = 0; i < 2; i++) await c.call(m);
  const all: number[][] = models.map(() => []);
  for (let i = 0; i < reps; i++) {
    const order = models.map((_, j) => j);
    if (i % 2 === 1) order.reverse();
    for (const j of order) {
      const start = performance.now();
      await c.call(models[j]);
      all[j].push(performance.now() - start);
    }
  }
  return all.map((times) => {
    const sorted = [...times].sort((a, b) => a - b);
    return { msMedian: sorted[Math.floor(sorted.length / 2)], msAll: times.map((v) => Math.round(v * 100) / 100) };
  });
}

async function kernelsPerCall(c: Case, model: Model): Promise<{ kernels: number; byName: Record<string, number> }> {
  const info = await tf.profile(() => c.call(model) as unknown as tf.TensorContainer);
  const byName: Record<string, number> = {};
  for (const k of info.kernels) byName[k.name] = (byName[k.name] ?? 0) + 1;
  return { kernels: info.kernels.length, byName };
}

async function main(): Promise<void> {
  const backend = arg("--backend") ?? "wasm";
  const reps = Number(arg("--reps") ?? 15);
  const only = arg("--only");
  const { setBackend } = await import("../src/backend");
  await setBackend(backend as "wasm" | "cpu");
  const engines = [loadEngine(ROOT, "this")];
  if (arg("--baseline")) engines.push(loadEngine(path.resolve(arg("--baseline")!), "baseline"));

  const results: Record<string, unknown>[] = [];
  for (const modelName of ["demo", "gpt2"] as const) {
    if (only && only !== modelName) continue;
    const cases = CASES.filter((c) => c.model === modelName);
    const models = engines.map((e) => (modelName === "demo" ? buildDemo(e) : buildGpt2(e)));
    for (const c of cases) {
      const row: Record<string, unknown> = { case: c.name };
      const timings = await timeCase(c, models, reps);
      for (const [i, e] of engines.entries()) {
        const { kernels, byName } = await kernelsPerCall(c, models[i]);
        row[e.label] = { ...timings[i], kernelsPerCall: kernels, kernelsByName: byName };
      }
      if (engines.length > 1) {
        const a = row.baseline as { msMedian: number; kernelsPerCall: number };
        const b = row.this as { msMedian: number; kernelsPerCall: number };
        row.speedup = Math.round((a.msMedian / b.msMedian) * 100) / 100;
        row.kernelRatio = Math.round((a.kernelsPerCall / b.kernelsPerCall) * 100) / 100;
      }
      results.push(row);
      console.error(`${c.name}: ${engines.map((e) => `${e.label} ${(row[e.label] as { msMedian: number }).msMedian.toFixed(1)} ms`).join(", ")}`);
    }
    models.forEach((m) => m.dispose());
  }
  const doc = {
    benchmark: "forward",
    backend: tf.getBackend(),
    reps,
    host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAverage: os.loadavg(), node: process.version },
    results,
  };
  const text = JSON.stringify(doc, null, 2);
  if (arg("--out")) fs.writeFileSync(arg("--out")!, text + "\n");
  console.log(text);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
