// Where a steady webgpu forward's wall time goes, for a model of the benchmark (bench/cpu-bench-models.ts) or a
// checkpoint directory: the same
// forward with the last position's logits only and with every position's (bench/run.mjs's definition, PyTorch's),
// reading back the last row, nothing, or after a queue drain; one JSON line per variant (steady median, p10, p90 ms),
// all variants alternated pass by pass so that clock drift falls on each alike.
//   node --import tsx bench/gpu/forward-parts.ts [model=gpt2-small] [T=128] [seconds=20]   (LMPROBE_FORWARD_VARIANTS=a,b)
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../../src/backend";
import fs from "node:fs";
import { loadModel } from "../../src/load";
import { loadBenchModel } from "../cpu-bench-models";

async function main(): Promise<void> {
  const [name = "gpt2-small", t = "128", secs = "20"] = process.argv.slice(2);
  const T = Number(t);
  const backend = await ensureBackend();
  // A directory: that checkpoint through loadModel (bf16 weights stay packed on webgpu unless LMPROBE_PACKED_WEIGHTS=0).
  const model = fs.existsSync(name) ? await loadModel(name) : (await loadBenchModel(name)).model;
  const V = model.config.vocabSize;
  const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const gpu = tf.backend() as unknown as { device?: GPUDevice; commandEncoder?: unknown; endComputePassEncoder?: () => void; submitQueue?: () => void };
  // Submits what tfjs has recorded but not yet submitted, then waits for the GPU to finish it all.
  const drain = async () => {
    if (gpu.commandEncoder) {
      gpu.endComputePassEncoder?.();
      gpu.submitQueue?.();
    }
    await gpu.device?.queue.onSubmittedWorkDone();
  };
  const variants: Record<string, () => Promise<void>> = {
    last_only_read_last: async () => {
      const r = model.run(ids, { lastPositionOnly: true });
      await r.logits.data();
      r.dispose();
    },
    all_read_last: async () => {
      const r = model.run([ids]);
      const last = tf.slice(r.logits, [0, T - 1, 0], [1, 1, -1]);
      r.dispose();
      await last.data();
      last.dispose();
    },
    all_drain_only: async () => {
      const r = model.run([ids]);
      r.dispose();
      await drain();
    },
    last_only_drain_only: async () => {
      const r = model.run(ids, { lastPositionOnly: true });
      r.dispose();
      await drain();
    },
  };
  // LMPROBE_FORWARD_VARIANTS=a,b: only those (a CPU profile of one of them, say).
  const only = process.env.LMPROBE_FORWARD_VARIANTS?.split(",");
  for (const k of Object.keys(variants)) if (only && !only.includes(k)) delete variants[k];
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const start = performance.now();
  let pass = 0;
  while (performance.now() - start < Number(secs) * 1000) {
    for (const [k, f] of Object.entries(variants)) {
      const a = performance.now();
      await f();
      if (pass >= 20 || performance.now() - start > (Number(secs) * 1000) / 3) times[k].push(performance.now() - a); // the first rounds warm V8 and the pools up
    }
    pass++;
  }
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)];
  for (const [k, xs] of Object.entries(times)) {
    console.log(JSON.stringify({ model: name, T, backend, variant: k, passes: xs.length, median_ms: +q(xs, 0.5).toFixed(3), p10_ms: +q(xs, 0.1).toFixed(3), p90_ms: +q(xs, 0.9).toFixed(3) }));
  }
  console.log(JSON.stringify({ memory: tf.memory() }));
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
