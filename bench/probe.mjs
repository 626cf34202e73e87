// Benchmark of the full probe (forward with the residual stream cached, logit lens over every layer and position
// with top-5, entropy and one target, both layer-similarity matrices): time of a plain forward pass, time of the
// probe, and the peak tensor memory (tfjs's high-water mark over the probe, through tf.profile) against the budget
// weights + 2 × (layers+1) × positions × d_model × 4 bytes + 64 MiB. Prints one JSON document.
//
//   node bench/probe.mjs [--backend wasm|cpu] [--models demo,gpt2-small] [--positions 128,512] [--runs 3]
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";

// The sources are TypeScript compiled to CommonJS: load them through tsx's require hook.
register();
const require = createRequire(import.meta.url);
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const backend = args.backend ?? process.env.LMPROBE_BACKEND ?? "wasm";
const models = (args.models ?? "demo,gpt2-small").split(",");
const positionsList = (args.positions ?? "128,512").split(",").map(Number);
const runs = Number(args.runs ?? 3);

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
const MiB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function load(name) {
  if (name === "demo") return loadModel("demo", { backend });
  if (name === "gpt2-small") {
    const config = normalizeConfig(GPT2_SMALL_CONFIG, "gpt2-small/config.json");
    return buildModel({ dir: "gpt2-small (random)", config, weights: randomGpt2Weights(), tokenizer: idTokenizer }, "gpt2-small-random");
  }
  throw new Error(`unknown model ${name}`);
}

const results = [];
for (const name of models) {
  const model = await load(name);
  const weightsBytes = tf.memory().numBytes;
  const { numLayers: L, hiddenSize: d, vocabSize: V } = model.config;
  for (const T of positionsList) {
    if (T > model.config.maxPositions) {
      results.push({ model: name, positions: T, skipped: `context is ${model.config.maxPositions}` });
      continue;
    }
    // Deterministic ids, avoiding id 0 (often a special token).
    const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (V - 1)));
    const target = ids[T - 1];
    const forwardMs = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const out = model.run(ids, { lastPositionOnly: true });
      await out.logits.data();
      out.dispose();
      forwardMs.push(performance.now() - t0);
    }
    // The full probe, phase by phase (what fullProbe() does), each under tf.profile for its byte high-water mark.
    const names = new Set(residualHookNames(L));
    const phases = { forward: [], lens: [], similarity: [] };
    const peaks = { forward: 0, lens: 0, similarity: 0 };
    const probeMs = [];
    let top = null;
    for (let r = 0; r < runs; r++) {
      const before = tf.memory().numTensors;
      const t0 = performance.now();
      let run;
      const timed = async (phase, f) => {
        const start = performance.now();
        const info = await tf.profile(async () => {
          await f();
          return [];
        });
        phases[phase].push(performance.now() - start);
        peaks[phase] = Math.max(peaks[phase], info.peakBytes);
      };
      await timed("forward", async () => {
        run = model.run(ids, { cache: (n) => names.has(n), lastPositionOnly: true });
        await run.logits.data();
      });
      await timed("lens", async () => {
        const lens = await logitLensFromCache(model, run.cache, run.tokens[0], { k: 5, targets: [target] });
        top = lens.entropy.objects().at(-1);
      });
      await timed("similarity", () => layerSimilarityFromCache(run.cache, L));
      run.dispose();
      probeMs.push(performance.now() - t0);
      if (tf.memory().numTensors !== before) throw new Error(`probe leaked ${tf.memory().numTensors - before} tensors`);
    }
    const peakBytes = Math.max(peaks.forward, peaks.lens, peaks.similarity);
    const residBytes = (L + 1) * T * d * 4;
    const budget = weightsBytes + 2 * residBytes + 64 * MiB;
    results.push({
      model: name,
      positions: T,
      layers: L,
      d_model: d,
      vocab: V,
      backend: tf.getBackend(),
      runs,
      forward_ms_median: Math.round(median(forwardMs)),
      probe_ms_median: Math.round(median(probeMs)),
      phase_ms_median: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(median(v))])),
      phase_peak_over_weights_mib: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, +((v - weightsBytes) / MiB).toFixed(1)])),
      weights_bytes: weightsBytes,
      peak_tensor_bytes: peakBytes,
      budget_bytes: budget,
      peak_over_weights_mib: +((peakBytes - weightsBytes) / MiB).toFixed(1),
      budget_over_weights_mib: +((budget - weightsBytes) / MiB).toFixed(1),
      within_budget: peakBytes <= budget,
      last_position_top_token: top?.top_token,
    });
    console.error(JSON.stringify(results.at(-1)));
  }
  model.dispose();
}
console.log(JSON.stringify({ benchmark: "probe", node: process.version, results }, null, 2));
