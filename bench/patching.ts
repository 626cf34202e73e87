// Activation patching and causal tracing on the demo model: the whole grid batched into few forward passes
// (default batch size) against one patched row per pass (batchSize 1), on the CPU backends. Prints one JSON
// document: median milliseconds and forward passes per call.
//
//   npx tsx bench/patching.ts [--backends wasm,cpu] [--reps 3] [--model demo]
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../src/load";
import { activationPatching } from "../src/intervene/activation-patching";
import { causalTrace } from "../src/intervene/causal-trace";
import type { BackendName } from "../src/backend";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backends = arg("backends", "wasm,cpu").split(",");
const reps = Number(arg("reps", "3"));
const source = arg("model", "demo");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  await fn(); // warm-up: kernels compiled, weights resident
  const times: number[] = [];
  let value!: T;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    value = await fn();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), value };
}

async function main() {
  const results: Record<string, unknown> = {};
  for (const backend of backends) {
    const model = await loadModel(source, { backend: backend as BackendName });
    const baseline = tf.memory().numTensors;
    const setup = { clean: "The capital of France is", corrupted: "The capital of Japan is", answers: [" Paris", " Tokyo"] as [string, string] };
    const components = ["resid_pre", "attn_out", "mlp_out", "z"] as const;
    const batched = await timed(() => activationPatching(model, { ...setup, components: [...components] }));
    const unbatched = await timed(() => activationPatching(model, { ...setup, components: [...components], batchSize: 1 }));
    const trace = await timed(() => causalTrace(model, setup.clean, { subject: "France", samples: 10 }));
    results[backend] = {
      grid_cells: batched.value.table.numRows(),
      patching_batched_ms: Math.round(batched.ms),
      patching_batched_passes: batched.value.forwardPasses,
      patching_one_row_per_pass_ms: Math.round(unbatched.ms),
      patching_one_row_per_pass_passes: unbatched.value.forwardPasses,
      causal_trace_10_samples_ms: Math.round(trace.ms),
      tensors_leaked: tf.memory().numTensors - baseline,
    };
    model.dispose();
  }
  console.log(JSON.stringify({ bench: "patching", model: source, reps, results }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
