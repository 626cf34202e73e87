// A steady probe loop on the demo model, run by test/probe/v8-recompiles.test.ts with V8's --trace-opt: forward
// keeping the residual stream, the logit lens with top-5 and a target, the layer similarity. It loads lmprobe from
// `process.argv[3]`: "dist" (the built package, dist/cjs, as a notebook or the CLI loads it) or "src" (the
// TypeScript sources, the process started with tsx).
//   node [--require bench/native-deps.cjs --import tsx] test/probe/probe-loop.cjs <probes> <dist|src>
const path = require("node:path");

const root = path.resolve(__dirname, "../..");
const from = (module) => require(path.join(root, process.argv[3] === "src" ? "src" : "dist/cjs", module));

async function main() {
  const probes = Number(process.argv[2]);
  const { ensureBackend } = from("backend");
  const { loadModel } = from("load");
  const { logitLensFromCache } = from("probe/logit-lens");
  const { layerSimilarityFromCache } = from("probe/layer-similarity");
  const { residualHookNames } = from("probe/residual-rows");
  await ensureBackend();
  const model = await loadModel("demo");
  const L = model.config.numLayers;
  const V = model.config.vocabSize;
  const ids = Array.from({ length: 64 }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const names = new Set(residualHookNames(L));
  for (let p = 0; p < probes; p++) {
    const run = model.run(ids, { cache: (n) => names.has(n), lastPositionOnly: true });
    await logitLensFromCache(model, run.cache, run.tokens[0], { k: 5, targets: [ids[ids.length - 1]] });
    await layerSimilarityFromCache(run.cache, L);
    run.dispose();
  }
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
