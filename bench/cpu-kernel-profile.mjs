#!/usr/bin/env node
// Where a forward pass and the probe spend their time on one backend, per tfjs kernel (tf.profile's kernelMs,
// wall-clock on the CPU backends), as JSON lines sorted by total milliseconds.
//
//   node bench/cpu-kernel-profile.mjs [--backend cpu-native] [--model demo|gpt2-small] [--positions 128] [--phase forward|probe]
//        [--reps 1]
// With --reps N, each kernel's milliseconds (and the wall time) are the median over N profiled runs: on a shared
// machine a single run's numbers move with whatever else is running.
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";

register();
const require = createRequire(import.meta.url);
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const backend = args.backend ?? "cpu-native";
const T = Number(args.positions ?? 128);
const tf = require("@tensorflow/tfjs-core");
const { setBackend } = require("../src/backend/index.ts");
const { loadModel } = require("../src/load.ts");
const { buildModel } = require("../src/model/build.ts");
const { normalizeConfig } = require("../src/io/config.ts");
const { logitLensFromCache } = require("../src/probe/logit-lens.ts");
const { layerSimilarityFromCache } = require("../src/probe/layer-similarity.ts");
const { residualHookNames } = require("../src/probe/residual-rows.ts");
const { GPT2_SMALL_CONFIG, randomGpt2Weights, idTokenizer } = await import("./probe-gpt2-small.mjs");

await setBackend(backend);
const model =
  (args.model ?? "gpt2-small") === "demo"
    ? await loadModel("demo", { backend })
    : buildModel({ dir: "gpt2-small (random)", config: normalizeConfig(GPT2_SMALL_CONFIG, "config.json"), weights: randomGpt2Weights(), tokenizer: idTokenizer }, "gpt2");
const L = model.config.numLayers;
const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (model.config.vocabSize - 1)));
const names = new Set(residualHookNames(L));
async function once() {
  if (args.phase === "probe") {
    const run = model.run(ids, { cache: (n) => names.has(n), lastPositionOnly: true });
    await run.logits.data();
    await logitLensFromCache(model, run.cache, run.tokens[0], { k: 5, targets: [ids[T - 1]] });
    await layerSimilarityFromCache(run.cache, L);
    run.dispose();
  } else {
    const out = model.run(ids, { lastPositionOnly: true });
    await out.logits.data();
    out.dispose();
  }
}
await once();
const reps = Number(args.reps ?? 1);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const walls = [];
const runs = [];
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const info = await tf.profile(once);
  walls.push(performance.now() - t0);
  const by = new Map();
  for (const k of info.kernels) {
    const e = by.get(k.name) ?? { kernel: k.name, calls: 0, ms: 0 };
    e.calls++;
    e.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    by.set(k.name, e);
  }
  runs.push(by);
}
const wall = median(walls);
const rows = [...runs[0].values()]
  .map((e) => ({ ...e, ms: median(runs.map((by) => by.get(e.kernel)?.ms ?? 0)) }))
  .sort((a, b) => b.ms - a.ms);
const kernelMs = rows.reduce((a, r) => a + r.ms, 0);
console.log(JSON.stringify({ backend, model: args.model ?? "gpt2-small", positions: T, phase: args.phase ?? "forward", reps, wall_ms: Math.round(wall), kernel_ms: Math.round(kernelMs) }));
for (const r of rows.slice(0, Number(args.top ?? 25))) console.log(JSON.stringify({ ...r, ms: +r.ms.toFixed(1), share: +((100 * r.ms) / kernelMs).toFixed(1) }));
model.dispose();
