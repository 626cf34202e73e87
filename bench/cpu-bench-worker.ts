// The lmprobe side of bench/cpu-vs-torch.mjs: builds one case's model, prints {"ready": …}, then answers each line
// on stdin ("forward", "probe", "rss", "quit") with one JSON line.
//   node --import tsx bench/cpu-bench-worker.ts <demo|gpt2-small|qwen2.5-1.5b[-streamed]|llama3.1-8b[-streamed]> <positions>
import fs from "node:fs";
import { createInterface } from "node:readline";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../src/backend";
import { logitLensFromCache } from "../src/probe/logit-lens";
import { layerSimilarityFromCache } from "../src/probe/layer-similarity";
import { residualHookNames } from "../src/probe/residual-rows";
import { loadBenchModel } from "./cpu-bench-models";

function peakRssMb(): number {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"))!;
  return Number(line.replace(/\D+/g, "")) / 1024;
}

async function main(): Promise<void> {
  const [name, t] = process.argv.slice(2);
  const T = Number(t);
  const chosen = await ensureBackend();
  const loadStart = performance.now();
  const { model, float32WeightsMb, streamed, checkpointWriteMs = 0 } = await loadBenchModel(name);
  // A random checkpoint written on first use is not part of the load.
  const loadMs = performance.now() - loadStart - checkpointWriteMs;
  const L = model.config.numLayers;
  const V = model.config.vocabSize;
  const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const names = new Set(residualHookNames(L));
  const phases: Record<string, () => Promise<void>> = {
    forward: async () => {
      const out = model.run(ids, { lastPositionOnly: true });
      await out.logits.data();
      out.dispose();
    },
    probe: async () => {
      const run = model.run(ids, { cache: (n: string) => names.has(n), lastPositionOnly: true });
      await run.logits.data();
      await logitLensFromCache(model, run.cache, run.tokens[0], { k: 5, targets: [ids[T - 1]] });
      await layerSimilarityFromCache(run.cache, L);
      run.dispose();
    },
  };
  console.log(JSON.stringify({ ready: true, backend: chosen, threads: process.env.LMPROBE_THREADS, float32_weights_mb: float32WeightsMb, streamed: streamed ?? false, load_ms: loadMs, checkpoint_write_ms: checkpointWriteMs, load_peak_rss_mb: peakRssMb() }));
  let settledTensors: number | null = null;
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = line.trim();
    if (cmd === "quit") break;
    if (cmd in phases) {
      // A streamed model keeps its last two blocks resident after a pass: from the first pass on, the count holds.
      const before = streamed && settledTensors === null ? null : tf.memory().numTensors;
      const t0 = performance.now();
      await phases[cmd]();
      const ms = performance.now() - t0;
      if (before !== null && tf.memory().numTensors !== before) throw new Error(`${cmd} leaked ${tf.memory().numTensors - before} tensors`);
      settledTensors = tf.memory().numTensors;
      console.log(JSON.stringify({ ms }));
    } else if (cmd === "rss") console.log(JSON.stringify({ peak_rss_mb: peakRssMb() }));
  }
  model.dispose();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
