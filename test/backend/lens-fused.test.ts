// The lens reduction's fused GPU path (whole vocabulary per block of rows through logitStats) against the
// float64 reference, on a WebGPU adapter (a GPU, or the software one chosen with LMPROBE_DAWN_OPTIONS);
// elsewhere skipped, saying why.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { lensReduction, fusedLens } from "../../src/tensor/lens-reduction";
import { lensReduce } from "../../src/tensor/lens-reduce";
import type { Unembedding } from "../../src/tensor/unembedding";
import { lensReference64, type LensCase } from "../tensor/lens-reference";
import { assertClose, randomMatrix, rng } from "../tensor/reference";
import { webgpuOrSkip } from "./webgpu-helpers";

function randomCase(seed: number, n: number, d: number, V: number, softcap: number | null): LensCase {
  const u = rng(seed);
  return {
    rows: randomMatrix(n, d, seed + 1, 2),
    normWeight: null,
    weight: randomMatrix(V, d, seed + 2, 1.5),
    bias: Array.from({ length: V }, () => u() - 0.5),
    softcap,
  };
}

async function check(c: LensCase, layout: "vocab_d" | "d_vocab", k: number, what: string): Promise<void> {
  const V = c.weight.length;
  const ref = lensReference64(c);
  const r0 = rng(5);
  const targets = ref.map(() => [Math.floor(r0() * V), Math.floor(r0() * V)]);
  const before = tf.memory().numTensors;
  const weight = tf.tidy(() => (layout === "vocab_d" ? tf.tensor2d(c.weight) : tf.transpose(tf.tensor2d(c.weight)))) as tf.Tensor2D;
  const bias = tf.tensor1d(c.bias!);
  const u: Unembedding = { weight, layout, bias, softcap: c.softcap };
  const rows = tf.tensor2d(c.rows);
  const out = lensReduction(rows, { unembedding: u, k, targets });
  const [ids, top, lse, ent, tl, ranks] = (await Promise.all(
    [out.topIds, out.topLogits, out.logSumExp, out.entropy, out.targetLogits, out.targetRanks].map((x) => x.array()),
  )) as [number[][], number[][], number[], number[], number[][], number[][]];
  assert.deepEqual([out.topIds.shape, out.topLogits.shape], [[c.rows.length, k], [c.rows.length, k]], `${what}: top-k shapes`);
  tf.dispose([...Object.values(out), weight, bias, rows]);
  assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
  assertClose(lse, ref.map((r) => r.lse), 2e-4, 1e-4, `${what} logSumExp`);
  assertClose(ent, ref.map((r) => r.entropy), 2e-4, 1e-4, `${what} entropy`);
  ref.forEach((r, i) => {
    if (k === 0) return assertClose(tl[i], targets[i].map((j) => r.logits[j]), 2e-4, 1e-4, `${what} row ${i} target logits`);
    // Ids must agree wherever the reference's neighbours are not within float32 noise of each other.
    r.top.slice(0, k).forEach((j, m) => {
      const gap = Math.min(...[m - 1, m + 1].filter((q) => q >= 0 && q < V).map((q) => Math.abs(r.logits[r.top[q]] - r.logits[j])));
      if (gap > 1e-3) assert.equal(ids[i][m], j, `${what} row ${i} top ${m}`);
    });
    assertClose(top[i], r.top.slice(0, k).map((j) => r.logits[j]), 2e-4, 1e-4, `${what} row ${i} top logits`);
    assertClose(tl[i], targets[i].map((j) => r.logits[j]), 2e-4, 1e-4, `${what} row ${i} target logits`);
    assert.deepEqual(ranks[i], targets[i].map((j) => r.rank(j)), `${what} row ${i} ranks`);
  });
}

test("the fused lens path matches the float64 reference in both layouts, with bias, softcap, k = 0 and row blocks", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  await check(randomCase(1, 7, 32, 500, null), "vocab_d", 5, "vocab_d");
  await check(randomCase(2, 6, 24, 301, 4), "d_vocab", 8, "d_vocab softcap k=8");
  await check(randomCase(3, 3, 16, 129, null), "vocab_d", 0, "k=0");
  const saved = fusedLens.blockLogits;
  try {
    fusedLens.blockLogits = 2 * 257; // two rows per block: 5 blocks, the last one short
    await check(randomCase(4, 9, 16, 257, null), "vocab_d", 3, "row blocks");
  } finally {
    fusedLens.blockLogits = saved;
  }
});

test("lensReduce through the fused path gives the chunked path's statistics", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const c = randomCase(6, 10, 32, 700, null);
  const u: Unembedding = { weight: tf.tensor2d(c.weight), layout: "vocab_d", bias: tf.tensor1d(c.bias!) };
  const rows = tf.tensor2d(c.rows);
  const before = tf.memory().numTensors;
  const fused = await lensReduce(rows, { unembedding: u, k: 5, targets: [3, 600], rowChunk: 4 });
  const chunked = await lensReduce(rows, { unembedding: u, k: 5, targets: [3, 600], rowChunk: 4, vocabChunk: 128 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(Array.from(fused.topIds), Array.from(chunked.topIds));
  assert.deepEqual(Array.from(fused.targetRanks), Array.from(chunked.targetRanks));
  assertClose(fused.entropy, chunked.entropy, 1e-4, 1e-4, "entropy");
  assertClose(fused.topLogprobs, chunked.topLogprobs, 1e-4, 1e-4, "top log-probs");
  assertClose(fused.targetProbs, chunked.targetProbs, 1e-5, 1e-4, "target probs");
  tf.dispose([u.weight, u.bias!, rows]);
});

test("countAbove counts the strictly greater entries of each row per threshold in one dispatch, NaN and ±Infinity included", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const { countAbove } = await import("../../src/backend/capabilities");
  const r = rng(11);
  // Widths off the 256-thread stride, ties with the thresholds, non-finite entries on both sides, and more cells
  // (rows × thresholds) than one dispatch dimension holds (32768), so that rows continue along y.
  for (const [rows, width, targets] of [[5, 1000, 3], [3, 7, 1], [210, 9, 200]]) {
    const x = Array.from({ length: rows }, () => Array.from({ length: width }, () => Math.round((r() - 0.5) * 20) / 2));
    x[0][1] = NaN;
    x[rows - 1][0] = Infinity;
    x[rows - 1][width - 1] = -Infinity;
    const thresholds = x.map((row) => Array.from({ length: targets }, (_, j) => (j === 0 ? row[Math.floor(r() * width)] : j === 1 ? NaN : (r() - 0.5) * 12)));
    thresholds[0][0] = -Infinity;
    const expected = x.map((row, i) => thresholds[i].map((limit) => row.filter((v) => v > limit).length));
    const xs = tf.tensor2d(x);
    const ts = tf.tensor2d(thresholds);
    let got: number[][] = [];
    const info = await tf.profile(async () => {
      const counted = countAbove(xs, ts)!;
      got = (await counted.array()) as number[][];
      counted.dispose();
      return [];
    });
    tf.dispose([xs, ts]);
    assert.deepEqual(got, expected, `[${rows}, ${width}] with ${targets} thresholds`);
    assert.deepEqual(info.kernels.map((k) => k.name), ["LmprobeCountAbove"], "one dispatch");
  }
});
