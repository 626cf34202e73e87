// Attention's two products on webgpu (headsScores: q·kᵀ, headsContext: pattern · v, read in the projections'
// layout) with and without the causal skip (MatMulTiledProgram's `causal`: blocks after every visible key left out),
// per shape and length: GPU time per dispatch (ten back to back per sample, --inner), the ratio, and whether the
// fused softmax of the skipped scores and the context product kept their bits (they should: max_abs_diff 0). Prints one JSON document; runs on any adapter (a
// software one checks the script and shows the work skipped, not a GPU's time).
//   node --import tsx bench/gpu/causal-skip.mjs [--shapes "gpt2:12:12:64;qwen:14:2:64;llama8b:32:8:128"] [--positions 128,1024]
//     [--reps 5] [--rounds 3] [--inner 10] [--out f.json]
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, median, option } from "../cli.mjs";
import { gpuTime } from "./gpu-timing.mjs";

const require = createRequire(import.meta.url);
const lmprobe = require(path.join(ROOT, "src/internal.ts"));
const kernels = require(path.join(ROOT, "src/backend/kernels/index.ts"));
const tf = require("@tensorflow/tfjs-core");

const shapes = option("shapes", "gpt2:12:12:64;qwen:14:2:64;llama8b:32:8:128").split(";").filter(Boolean).map((s) => {
  const [name, heads, kvHeads, dHead] = s.split(":");
  return { name, heads: Number(heads), kvHeads: Number(kvHeads), dHead: Number(dHead) };
});
const positions = option("positions", "128,1024").split(",").map(Number);
const reps = Number(option("reps", "5"));
const rounds = Number(option("rounds", "3"));
const inner = Number(option("inner", "10"));

function randoms(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

await lmprobe.setBackend("webgpu");
const doc = { bench: "causal-skip", adapter: lmprobe.backendReport()?.candidates?.find((c) => c.status === "chosen")?.detail?.adapter ?? null, inner, rows: [] };
for (const { name, heads, kvHeads, dHead } of shapes) {
  for (const pos of positions) {
    const q = tf.tensor4d(randoms(pos * heads * dHead, 1), [1, pos, heads, dHead]);
    const k = tf.tensor4d(randoms(pos * kvHeads * dHead, 2), [1, pos, kvHeads, dHead]);
    const v = tf.tensor4d(randoms(pos * kvHeads * dHead, 3), [1, pos, kvHeads, dHead]);
    const scores = kernels.headsScores(q, k);
    const row = { shape: name, positions: pos, heads, kvHeads, dHead };
    if (!scores) {
      row.skipped = "headsScores does not take this shape";
      doc.rows.push(row);
      tf.dispose([q, k, v]);
      continue;
    }
    // A causal pattern (zeros after each row's own key), as the fused softmax leaves it.
    const mask = tf.tidy(() => {
      const rows = tf.reshape(tf.range(0, pos, 1, "int32"), [pos, 1]);
      const cols = tf.reshape(tf.range(0, pos, 1, "int32"), [1, pos]);
      return tf.reshape(tf.where(tf.greater(cols, rows), tf.fill([pos, pos], -3.4028234663852886e38), tf.zeros([pos, pos])), [1, 1, pos, pos]);
    });
    const pattern = kernels.fusedScoresSoftmax(scores, mask, 0.125, null);
    const variants = {
      scores_full: () => kernels.headsScores(q, k, false),
      scores_causal: () => kernels.headsScores(q, k, true),
      context_full: () => kernels.headsContext(pattern, v, false),
      context_causal: () => kernels.headsContext(pattern, v, true),
    };
    const times = Object.fromEntries(Object.keys(variants).map((v) => [v, []]));
    for (let r = 0; r < rounds; r++) for (const [v, fn] of Object.entries(variants)) times[v].push(await gpuTime(fn, reps, inner));
    for (const v of Object.keys(variants)) row[`${v}_ms`] = +median(times[v]).toFixed(4);
    row.scores_speedup = +(row.scores_full_ms / row.scores_causal_ms).toFixed(3);
    row.context_speedup = +(row.context_full_ms / row.context_causal_ms).toFixed(3);
    const softmaxOf = (scoresFn) => () => {
      const s = scoresFn();
      const p = kernels.fusedScoresSoftmax(s, mask, 0.125, null);
      s.dispose();
      return p;
    };
    variants.softmax_full = softmaxOf(variants.scores_full);
    variants.softmax_causal = softmaxOf(variants.scores_causal);
    for (const part of ["softmax", "context"]) {
      const [a, b] = [variants[`${part}_full`](), variants[`${part}_causal`]()];
      const [da, db] = [await a.data(), await b.data()];
      row[`${part}_max_abs_diff`] = da.reduce((m, x, i) => Math.max(m, Math.abs(x - db[i])), 0);
      tf.dispose([a, b]);
    }
    tf.dispose([q, k, v, scores, mask, pattern]);
    doc.rows.push(row);
    console.error(JSON.stringify(row));
  }
}
const text = JSON.stringify(doc, null, 1);
const out = option("out", "");
if (out) writeFileSync(out, text);
console.log(text);
process.exit(0);
