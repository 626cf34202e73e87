// MoE expert dispatch on the CPU backends: "gather" (only the chosen experts run, ids read back to the host) vs
// "dense" (every expert runs on every token, weighted by the routing matrix), for one MoE MLP of Mixtral's shape
// scaled down (d 512, expert width 1024, 8 experts, top-2) at a decode step (1 token) and a prompt (128 tokens).
// Prints one JSON document: median milliseconds per dispatch.
//
//   npx tsx bench/moe-dispatch.ts [--backends wasm,cpu] [--reps 5]
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { dispatchExperts, type ExpertWeights } from "../src/model/components/moe-experts";
import { routeTokens } from "../src/model/components/moe-router";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backends = arg("backends", "wasm,cpu").split(",");
const reps = Number(arg("reps", "5"));
const D = 512;
const WIDTH = 1024;
const EXPERTS = 8;
const TOP_K = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main() {
  const results: Record<string, Record<string, number>> = {};
  for (const backend of backends) {
    tf.env().set("PROD", true);
    await tf.setBackend(backend);
    await tf.ready();
    const experts: ExpertWeights[] = Array.from({ length: EXPERTS }, (_, e) => ({
      W_gate: tf.randomNormal([D, WIDTH], 0, 0.05, "float32", e) as tf.Tensor2D,
      b_gate: null,
      W_in: tf.randomNormal([D, WIDTH], 0, 0.05, "float32", 100 + e) as tf.Tensor2D,
      b_in: null,
      W_out: tf.randomNormal([WIDTH, D], 0, 0.05, "float32", 200 + e) as tf.Tensor2D,
      b_out: null,
    }));
    results[backend] = {};
    for (const tokens of [1, 128]) {
      const x = tf.randomNormal([tokens, D], 0, 1, "float32", 7) as tf.Tensor2D;
      const logits = tf.randomNormal([tokens, EXPERTS], 0, 1, "float32", 8) as tf.Tensor2D;
      const routing = routeTokens(logits, { order: "softmax-topk", topK: TOP_K, renormalize: true });
      for (const dispatch of ["gather", "dense"] as const) {
        const times: number[] = [];
        for (let i = 0; i < reps + 1; i++) {
          const t0 = performance.now();
          const out = dispatchExperts(x, routing, experts, { kind: "gated", act: "silu" }, dispatch);
          await out.data();
          out.dispose();
          if (i > 0) times.push(performance.now() - t0); // the first run warms up
        }
        results[backend][`${dispatch}_${tokens}tok_ms`] = Number(median(times).toFixed(2));
      }
      tf.dispose([x, logits, routing.indices, routing.weights]);
    }
    tf.dispose(experts.flatMap((e) => [e.W_gate, e.W_in, e.W_out]));
  }
  console.log(JSON.stringify({ shape: { d: D, width: WIDTH, experts: EXPERTS, topK: TOP_K }, reps, results }, null, 2));
}
main();
