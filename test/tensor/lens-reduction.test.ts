import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { lensReduction } from "../../src/tensor/lens-reduction";
import { lensReduce } from "../../src/tensor/lens-reduce";
import { Unembedding } from "../../src/tensor/unembedding";
import { AbortError, ArgumentError } from "../../src/errors";
import { assertClose, extremeRows, input, onEachBackend, randomMatrix, rng } from "./reference";
import { LensCase, lensReference64 } from "./lens-reference";
import { fusedRowsPerBlock, rowBlockLens, rowsPerBlock } from "../../src/tensor/lens-row-blocks";

function rmsNorm(weight: tf.Tensor1D) {
  return (x: tf.Tensor2D) =>
    tf.tidy(() => tf.mul(tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), 1, true), 1e-6))), weight) as tf.Tensor2D);
}

function unembeddingOf(c: LensCase, layout: "d_vocab" | "vocab_d"): Unembedding {
  return {
    weight: input(tf.tidy(() => (layout === "vocab_d" ? tf.tensor2d(c.weight) : (tf.transpose(tf.tensor2d(c.weight)) as tf.Tensor2D)))),
    layout,
    bias: c.bias ? input(tf.tensor1d(c.bias)) : null,
    softcap: c.softcap,
  };
}

function randomCase(seed: number, n: number, d: number, V: number, softcap: number | null): LensCase {
  const u = rng(seed);
  return {
    rows: randomMatrix(n, d, seed + 1, 2),
    normWeight: Array.from({ length: d }, () => 0.5 + u()),
    weight: randomMatrix(V, d, seed + 2, 1.5),
    bias: Array.from({ length: V }, () => u() - 0.5),
    softcap,
  };
}

async function checkAgainstReference(c: LensCase, layout: "d_vocab" | "vocab_d", vocabChunk: number | undefined, what: string, tol = { atol: 2e-4, rtol: 1e-4 }) {
  const n = c.rows.length;
  const V = c.weight.length;
  const ref = lensReference64(c);
  const r0 = rng(99);
  const perRow = ref.map(() => [Math.floor(r0() * V), Math.floor(r0() * V)]);
  const rows = input(tf.tensor2d(c.rows));
  const out = lensReduction(rows, {
    unembedding: unembeddingOf(c, layout),
    finalNorm: c.normWeight ? rmsNorm(input(tf.tensor1d(c.normWeight))) : null,
    k: 5,
    targets: perRow,
    vocabChunk,
  });
  const [ids, topLogits, lse, ent, tLogits, tRanks] = (await Promise.all(
    [out.topIds, out.topLogits, out.logSumExp, out.entropy, out.targetLogits, out.targetRanks].map((t) => t.array()),
  )) as [number[][], number[][], number[], number[], number[][], number[][]];
  tf.dispose(Object.values(out));
  assertClose(lse, ref.map((r) => r.lse), tol.atol, tol.rtol, `${what} logSumExp`);
  assertClose(ent, ref.map((r) => r.entropy), tol.atol, tol.rtol, `${what} entropy`);
  ref.forEach((r, i) => {
    assertClose(topLogits[i], r.top.slice(0, 5).map((j) => r.logits[j]), tol.atol, tol.rtol, `${what} row ${i} top logits`);
    // Ids must agree wherever the reference's neighbours are not within float32 noise of each other.
    r.top.slice(0, 5).forEach((j, m) => {
      const gap = Math.min(...[m - 1, m + 1].filter((q) => q >= 0 && q < V).map((q) => Math.abs(r.logits[r.top[q]] - r.logits[j])));
      if (gap > 1e-3 && Number.isFinite(r.logits[j])) assert.equal(ids[i][m], j, `${what} row ${i} top ${m}`);
    });
    assertClose(tLogits[i], perRow[i].map((j) => r.logits[j]), tol.atol, tol.rtol, `${what} row ${i} target logits`);
    assert.deepEqual(tRanks[i], perRow[i].map((j) => r.rank(j)), `${what} row ${i} target ranks`);
  });
}

test("lens reduction matches a float64 full-vocabulary reference with vocab chunks smaller than V", async () => {
  await onEachBackend(async (backend) => {
    const c = randomCase(1, 9, 24, 300, null);
    await checkAgainstReference(c, "vocab_d", 64, `${backend} vocab_d chunk 64`);
    await checkAgainstReference(c, "d_vocab", 77, `${backend} d_vocab chunk 77`);
    await checkAgainstReference(c, "vocab_d", 300, `${backend} one chunk`);
    await checkAgainstReference(randomCase(2, 5, 16, 129, 3), "vocab_d", 50, `${backend} softcap`);
  });
});

test("lens reduction stays exact and NaN-free for ±1e4 logits and -Infinity masks", async () => {
  await onEachBackend(async (backend) => {
    const V = 40;
    const identity = Array.from({ length: V }, (_, i) => Array.from({ length: V }, (_, j) => (i === j ? 1 : 0)));
    // Masks come through the bias (a matmul cannot carry −Infinity): every 5th token is masked for all rows.
    const bias = Array.from({ length: V }, (_, i) => (i % 5 === 4 ? -Infinity : 0));
    const rows = extremeRows(V, 7).map((r) => r.map((v) => (Number.isFinite(v) ? v : -1e4)));
    const c: LensCase = { rows, normWeight: null, weight: identity, bias, softcap: null };
    // float32 holds a 1e4 logit to ~1e-3, so absolute tolerances scale with it.
    await checkAgainstReference(c, "vocab_d", 7, `${backend} extreme`, { atol: 2e-3, rtol: 1e-6 });
  });
});

test("a fully masked row gives entropy 0 and -Infinity log-probabilities, never NaN", async () => {
  await onEachBackend(async () => {
    const u: Unembedding = { weight: input(tf.eye(6) as tf.Tensor2D), layout: "vocab_d", bias: input(tf.fill([6], -Infinity) as tf.Tensor1D) };
    const stats = await lensReduce(input(tf.ones([2, 6]) as tf.Tensor2D), { unembedding: u, k: 2, targets: [3], vocabChunk: 4 });
    assert.deepEqual(Array.from(stats.entropy), [0, 0]);
    assert.deepEqual(Array.from(stats.logSumExp), [-Infinity, -Infinity]);
    assert.deepEqual(Array.from(stats.targetLogprobs), [-Infinity, -Infinity]);
    assert.deepEqual(Array.from(stats.topProbs), [0, 0, 0, 0]);
  });
});

test("lensReduce over row chunks equals one lensReduction, reports progress, and can be aborted", async () => {
  await onEachBackend(async () => {
    const c = { ...randomCase(3, 11, 8, 97, null), normWeight: null };
    const u = unembeddingOf(c, "vocab_d");
    const rows = input(tf.tensor2d(c.rows));
    const progress: number[] = [];
    const stats = await lensReduce(rows, { unembedding: u, k: 3, targets: [5, 50], vocabChunk: 20, rowChunk: 4, onProgress: (done) => progress.push(done) });
    assert.deepEqual(progress, [4, 8, 11]);
    const ref = lensReference64(c);
    assertClose(stats.entropy, ref.map((r) => r.entropy), 2e-4, 1e-4, "entropy");
    assertClose(stats.targetLogprobs, ref.flatMap((r) => [r.logprobs[5], r.logprobs[50]]), 2e-4, 1e-4, "target logprobs");
    assertClose(stats.topProbs, ref.flatMap((r) => r.top.slice(0, 3).map((j) => Math.exp(r.logprobs[j]))), 2e-5, 1e-4, "top probs");
    assert.deepEqual(Array.from(stats.targetRanks), ref.flatMap((r) => [r.rank(5), r.rank(50)]));
    const controller = new AbortController();
    const aborted = lensReduce(rows, { unembedding: u, rowChunk: 4, signal: controller.signal, onProgress: () => controller.abort() });
    await assert.rejects(aborted, AbortError);
  });
});

test("the reduction never holds [rows, vocab] logits: peak memory follows the vocab chunk", async () => {
  await onEachBackend(async (backend) => {
    const n = 64, d = 8, V = 8192, chunk = 256;
    const u: Unembedding = { weight: input(tf.randomNormal([V, d]) as tf.Tensor2D), layout: "vocab_d" };
    const rows = input(tf.randomNormal([n, d]) as tf.Tensor2D);
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => lensReduction(rows, { unembedding: u, k: 5, targets: [1], vocabChunk: chunk }) as unknown as tf.TensorContainer);
    tf.dispose(info.result as unknown as tf.Tensor[]);
    const extra = info.peakBytes - before;
    assert.ok(extra < (n * V * 4) / 4, `${backend}: peak ${extra} bytes above the inputs; [n, V] logits alone would be ${n * V * 4}`);
  });
});

/** Runs body with rowBlockLens.blockLogits set to `logits`, restoring it afterwards. */
async function withBlockLogits(logits: number, body: () => Promise<void>): Promise<void> {
  const saved = rowBlockLens.blockLogits;
  rowBlockLens.blockLogits = logits;
  try {
    await body();
  } finally {
    rowBlockLens.blockLogits = saved;
  }
}

/** How many products (BatchMatMul kernels) a call runs: one per row block, or one per vocabulary chunk. */
async function products(f: () => tf.TensorContainer): Promise<number> {
  const info = await tf.profile(f);
  tf.dispose(info.result as tf.Tensor[]);
  // cpu-native's whole-lens kernel takes its product inside (one call per block of rows).
  return info.kernels.filter((k) => k.name === "BatchMatMul" || k.name === "LmprobeLensRows").length;
}

test("without a vocab chunk, row blocks over the whole vocabulary match the float64 reference", async () => {
  await onEachBackend(async (backend) => {
    const c = randomCase(4, 10, 24, 300, null);
    await checkAgainstReference(c, "vocab_d", undefined, `${backend} vocab_d one block`);
    // Three rows per block: four blocks, the last one short.
    await withBlockLogits(3 * 300, async () => {
      await checkAgainstReference(c, "vocab_d", undefined, `${backend} vocab_d blocks of 3`);
      await checkAgainstReference(c, "d_vocab", undefined, `${backend} d_vocab blocks of 3`);
    });
    await checkAgainstReference(randomCase(5, 6, 16, 129, 3), "vocab_d", undefined, `${backend} softcap`);
    // ±1e4 logits without masks stay on the row-block path.
    const V = 40;
    const identity = Array.from({ length: V }, (_, i) => Array.from({ length: V }, (_, j) => (i === j ? 1 : 0)));
    const rows = extremeRows(V, 7).map((r) => r.map((v) => (Number.isFinite(v) ? v : -1e4)));
    await checkAgainstReference({ rows, normWeight: null, weight: identity, bias: null, softcap: null }, "vocab_d", undefined, `${backend} extreme`, { atol: 2e-3, rtol: 1e-6 });
  });
});


test("row blocks take one product per block; masked (−Infinity) biases fall back to vocabulary chunks", async () => {
  await onEachBackend(async (backend) => {
    const n = 12, d = 8, V = 500;
    const u: Unembedding = { weight: input(tf.randomNormal([V, d], 0, 1, "float32", 3) as tf.Tensor2D), layout: "vocab_d" };
    const rows = input(tf.randomNormal([n, d], 0, 1, "float32", 4) as tf.Tensor2D);
    const run = () => lensReduction(rows, { unembedding: u, k: 5, targets: [7] }) as unknown as tf.TensorContainer;
    const masked: Unembedding = { ...u, bias: input(tf.tensor1d(Array.from({ length: V }, (_, i) => (i === 3 ? -Infinity : 0)))) };
    await withBlockLogits(4 * V, async () => {
      // Four rows per block; sixteen with cpu-native's statistics kernel, which keeps only the logits at full size, and
      // as many per call of its whole-lens kernel (one target).
      const perBlock = rowsPerBlock(u, 5);
      assert.equal(perBlock, backend === "cpu-native" ? 16 : 4, `${backend}: rows per block`);
      if (backend === "cpu-native") assert.equal(fusedRowsPerBlock(u, 1), perBlock);
      assert.equal(await products(run), Math.ceil(n / perBlock), `${backend}: 12 rows in blocks of ${perBlock}`);
      // The streaming path's default chunk covers these 500 ids at once: one product for all 12 rows.
      const chunked = await products(() => lensReduction(rows, { unembedding: masked, k: 5, targets: [7] }) as unknown as tf.TensorContainer);
      assert.equal(chunked, 1, `${backend}: a masked bias streams over vocabulary chunks`);
    });
    // The masked token is never in the top-k and ranks last.
    const stats = await lensReduce(rows, { unembedding: masked, k: 5, targets: [3] });
    assert.ok(!Array.from(stats.topIds).includes(3));
    assert.ok(Array.from(stats.targetRanks).every((r) => r === V), `ranks ${Array.from(stats.targetRanks)}`);
  });
});

test("row blocks bound memory by the block, not by rows × vocabulary", async () => {
  await onEachBackend(async (backend) => {
    const n = 64, d = 8, V = 8192;
    const u: Unembedding = { weight: input(tf.randomNormal([V, d]) as tf.Tensor2D), layout: "vocab_d" };
    const rows = input(tf.randomNormal([n, d]) as tf.Tensor2D);
    await withBlockLogits(4 * V, async () => {
      const before = tf.memory().numBytes;
      const info = await tf.profile(() => lensReduction(rows, { unembedding: u, k: 5, targets: [1] }) as unknown as tf.TensorContainer);
      tf.dispose(info.result as unknown as tf.Tensor[]);
      const extra = info.peakBytes - before;
      // A block holds at most four [4, V] tensors.
      assert.ok(extra <= 4 * 4 * V * 4 + 64 * 1024, `${backend}: peak ${extra} bytes above the inputs; one block is ${4 * V * 4}, [n, V] ${n * V * 4}`);
    });
  });
});

test("lens reduction rejects bad arguments with typed errors", () => {
  const u: Unembedding = { weight: tf.zeros([10, 4]) as tf.Tensor2D, layout: "vocab_d" };
  const rows = tf.zeros([3, 4]) as tf.Tensor2D;
  assert.throws(() => lensReduction(rows, { unembedding: u, targets: [10] }), ArgumentError);
  assert.throws(() => lensReduction(rows, { unembedding: u, targets: [[1], [2]] }), ArgumentError);
  assert.throws(() => lensReduction(rows, { unembedding: u, k: 11 }), ArgumentError);
  assert.throws(() => lensReduction(rows, { unembedding: { ...u, layout: "d_vocab" } }), ArgumentError);
  assert.throws(() => lensReduction(tf.zeros([3, 5]) as tf.Tensor2D, { unembedding: u }), ArgumentError);
  tf.dispose([u.weight, rows]);
});
