// Memory of a gradient pass: a randomly initialised GPT-2-small-shaped model (bench/probe-gpt2-small.mjs) at
// T = 128 and T = 512 on a CPU backend (wasm by default, lmprobe's CPU path; --backend cpu works the same, far
// slower). For each T, the high-water mark of backend buffers allocated during the call (bench/memory-meter.ts;
// the weights, allocated before, are not counted): a plain forward pass (the baseline, same run), a forward pass
// caching every hook point (all forward activations), the gradient cache of log p(next token) at the embeddings
// (what token attribution takes) and at every block's resid_pre with those activations (what attribution
// patching of resid_pre takes), each checkpointed (the default: blocks recomputed in the backward pass) and as the
// whole pass differentiated at once (checkpoint: false), in the same run. Prints one JSON document.
//
//   node --import tsx bench/gradients.ts [--backend wasm|cpu-native|cpu] [--positions 128,512]
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend, type BackendName } from "../src/backend";
import { buildModel } from "../src/model/build";
import { normalizeConfig } from "../src/io/config";
import { gradientCache } from "../src/model/gradients";
import { logProbMetric } from "../src/probe/gradient-metrics";
import { peakBufferBytes } from "./memory-meter";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backend = arg("backend", "wasm") as BackendName;
const positionsList = arg("positions", "128,512").split(",").map(Number);
const MiB = 1024 * 1024;

async function profiled(fn: () => Promise<void>): Promise<{ peakMiB: number; ms: number }> {
  const t0 = performance.now();
  const peak = await peakBufferBytes(fn);
  return { peakMiB: +(peak / MiB).toFixed(1), ms: Math.round(performance.now() - t0) };
}

async function main() {
  await setBackend(backend);
  const { GPT2_SMALL_CONFIG, randomGpt2Weights, idTokenizer } = await import("./probe-gpt2-small.mjs");
  const config = normalizeConfig(GPT2_SMALL_CONFIG, "gpt2-small/config.json");
  const model = buildModel({ dir: "gpt2-small (random)", config, weights: randomGpt2Weights(), tokenizer: idTokenizer } as never, "gpt2-small-random");
  const weightsMiB = +(tf.memory().numBytes / MiB).toFixed(1);
  const results: Record<string, unknown>[] = [];
  for (const T of positionsList) {
    const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (config.vocabSize - 1)));
    const metric = logProbMetric(model, ids[T - 1]);
    const before = tf.memory().numTensors;
    const over = (p: { peakMiB: number; ms: number }) => ({ peak_over_weights_mib: p.peakMiB, ms: p.ms });
    try {
    const forward = await profiled(async () => {
      const r = model.run(ids, { lastPositionOnly: true });
      await r.logits.data();
      r.dispose();
    });
    let allActivationsMiB = 0;
    const everyHook = await profiled(async () => {
      const r = model.run(ids, { lastPositionOnly: true, cache: (n) => !n.includes("expert") });
      allActivationsMiB = r.cache.names().reduce((s, n) => s + r.cache.get(n).size * 4, 0) / MiB;
      r.dispose();
    });
    // Checkpointed (the default) first, then the whole pass differentiated at once (checkpoint: false, the
    // baseline), which at T = 512 may not fit wasm's heap.
    const gradients = async (names: string[], cache: string[] | undefined, checkpoint: boolean) =>
      profiled(async () => {
        const g = await gradientCache(model, [ids], { metric, names, cache, lastPositionOnly: true, checkpoint });
        g.dispose();
      });
    const row: Record<string, unknown> = {
      positions: T,
      forward: over(forward),
      forward_caching_every_hook: over(everyHook),
      every_forward_activation_mib: +allActivationsMiB.toFixed(1),
    };
    results.push(row);
    const embedGrad = await gradients(["hook_embed"], [], true);
    row.checkpointed = {
      gradient_at_embeddings: over(embedGrad),
      gradient_and_activations_at_every_resid_pre: over(await gradients(["resid_pre"], undefined, true)),
      gradient_peak_over_forward_peak: +(embedGrad.peakMiB / forward.peakMiB).toFixed(2),
      gradient_peak_over_every_activation: +(embedGrad.peakMiB / allActivationsMiB).toFixed(2),
    };
    row.tensors_leaked = tf.memory().numTensors - before;
    try {
      const wholeEmbed = await gradients(["hook_embed"], [], false);
      row.whole_pass = {
        gradient_at_embeddings: over(wholeEmbed),
        gradient_and_activations_at_every_resid_pre: over(await gradients(["resid_pre"], undefined, false)),
        gradient_peak_over_forward_peak: +(wholeEmbed.peakMiB / forward.peakMiB).toFixed(2),
        gradient_peak_over_every_activation: +(wholeEmbed.peakMiB / allActivationsMiB).toFixed(2),
      };
      row.whole_pass_peak_over_checkpointed = +(wholeEmbed.peakMiB / embedGrad.peakMiB).toFixed(2);
      row.tensors_leaked = tf.memory().numTensors - before;
    } catch (err) {
      row.whole_pass = { failed: String((err as Error).message ?? err).split("\n")[0] };
      if (backend === "wasm") break; // the wasm heap may be left unusable
    }
    } catch (err) {
      // On wasm the heap is 4 GiB (weights, XNNPACK's packed copy of them and the tape share it).
      results.push({ positions: T, failed: String((err as Error).message ?? err).split("\n")[0] });
      break; // the wasm heap may be left unusable
    }
  }
  console.log(JSON.stringify({ bench: "gradients", model: "gpt2-small shape (random weights)", backend, weights_mib: weightsMiB, results }, null, 2));
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
