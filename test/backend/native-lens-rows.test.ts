// cpu-native's lens as one onnxruntime call per block of rows (fusedRowBlockReduction, backend/native/lens-rows.ts):
// the same bits as the separate calls it replaces (product, statistics, target logits and ranks, ties included), in
// both unembedding layouts, with k = 0 and over several blocks; declined for rows that are not finite and for biased
// or softcapped unembeddings; blocks of fusedRowsPerBlock rows; and what the lens takes on the demo model.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { fusedRowBlockReduction, fusedRowsPerBlock, rowBlockLens, rowBlockReduction } from "../../src/tensor/lens-row-blocks";
import { lensReduction } from "../../src/tensor/lens-reduction";
import type { LensReductionTensors } from "../../src/tensor/lens-reduction";
import type { Unembedding } from "../../src/tensor/unembedding";
import { randoms } from "./product-reference";

before(async () => {
  await setBackend("cpu-native");
});

const FIELDS = ["topIds", "topLogits", "logSumExp", "entropy", "targetLogits", "targetRanks"] as const;

async function values(r: LensReductionTensors): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const f of FIELDS) out[f] = Array.from(await r[f].data());
  tf.dispose(Object.values(r));
  return out;
}

function setup(n: number, d: number, V: number, layout: Unembedding["layout"], seed: number) {
  const W = tf.tensor2d(randoms(V * d, seed), layout === "vocab_d" ? [V, d] : [d, V]);
  const rows = tf.tensor2d(randoms(n * d, seed + 1).map((v) => 3 * v), [n, d]);
  return { u: { weight: W, layout } as Unembedding, rows };
}

/** Runs body with rowBlockLens.blockLogits set to `logits`, restoring it afterwards. */
function withBlockLogits<T>(logits: number, body: () => T): T {
  const saved = rowBlockLens.blockLogits;
  rowBlockLens.blockLogits = logits;
  try {
    return body();
  } finally {
    rowBlockLens.blockLogits = saved;
  }
}

test("cpu-native: the fused lens gives the separate calls' bits, targets and ties included, in both layouts", async () => {
  const [n, d, V] = [50, 32, 700];
  for (const [i, layout] of (["vocab_d", "d_vocab"] as const).entries()) {
    const { u, rows } = setup(n, d, V, layout, 10 + i);
    // Each row's own top token as its first target (rank 1), a fixed id as its second.
    const logits = tf.tidy(() => (layout === "vocab_d" ? tf.matMul(rows, u.weight as tf.Tensor2D, false, true) : tf.matMul(rows, u.weight as tf.Tensor2D)));
    const argmax = Array.from(await tf.argMax(logits, 1).data());
    logits.dispose();
    for (const k of [5, 0]) {
      const ids = tf.tensor2d(argmax.flatMap((a) => [a, 17]), [n, 2], "int32");
      const before = tf.memory().numTensors;
      const one = fusedRowBlockReduction(rows, u, k, ids);
      assert.ok(one, `${layout} k=${k}: taken`);
      const fused = await values(one);
      const blocks = await values(rowBlockReduction(rows, u, k, ids));
      for (const f of FIELDS) assert.deepEqual(fused[f], blocks[f], `${layout} k=${k}: ${f}, same bits`);
      // Several blocks of 7 rows (the last one short): the same ids and ranks, and the same numbers to rounding (a
      // product's last bits may depend on its rows and threads: MLAS blocks its sums by them).
      const several = withBlockLogits(Math.ceil((2 * 7 * V) / 4), () => fusedRowBlockReduction(rows, u, k, ids));
      assert.ok(several, `${layout} k=${k}: several blocks taken`);
      const split = await values(several);
      for (const f of ["topIds", "targetRanks"]) assert.deepEqual(split[f], blocks[f], `${layout} k=${k}: ${f} over several blocks`);
      for (const f of ["topLogits", "logSumExp", "entropy", "targetLogits"]) {
        split[f].forEach((v, j) => assert.ok(Math.abs(v - blocks[f][j]) <= 1e-5 * Math.max(1, Math.abs(v)), `${layout} k=${k}: ${f}[${j}] over several blocks: ${v} vs ${blocks[f][j]}`));
      }
      assert.equal(fused.topIds.length, n * k);
      assert.ok(fused.targetRanks.filter((_, j) => j % 2 === 0).every((r) => r === 1), "a row's top token ranks 1");
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      ids.dispose();
    }
    tf.dispose([u.weight, rows]);
  }
});

test("cpu-native: the fused lens declines non-finite rows, biases and softcaps", async () => {
  const [n, d, V] = [20, 16, 300];
  const { u, rows } = setup(n, d, V, "vocab_d", 30);
  const ids = tf.tensor2d(Array.from({ length: n }, (_, i) => i), [n, 1], "int32");
  for (const bad of [NaN, Infinity]) {
    const poisoned = Array.from(await rows.data());
    poisoned[3 * d + 5] = bad;
    const x = tf.tensor2d(poisoned, [n, d]);
    assert.equal(fusedRowBlockReduction(x, u, 5, ids), null, `a ${bad} in a row: declined`);
    const before = tf.memory().numTensors;
    // Blocks of two rows: row 3 is in the second of ten, after a block that succeeded.
    assert.equal(withBlockLogits(Math.ceil((2 * V) / 4), () => fusedRowsPerBlock(u, 1)), 2);
    assert.equal(withBlockLogits(Math.ceil((2 * V) / 4), () => fusedRowBlockReduction(x, u, 5, ids)), null, `a ${bad} in the second of ten blocks: declined`);
    assert.equal(tf.memory().numTensors, before, "the first block's tensors are disposed");
    // lensReduction then takes a path that handles it: the other rows keep their statistics.
    const out = await values(lensReduction(x, { unembedding: u, k: 5, targets: [0] }));
    assert.ok(Number.isFinite(out.logSumExp[0]) && !Number.isFinite(out.logSumExp[3]), `${bad}: row 3 alone is not finite`);
    x.dispose();
  }
  const bias = tf.zeros([V]) as tf.Tensor1D;
  assert.equal(fusedRowBlockReduction(rows, { ...u, bias }, 5, ids), null, "a bias: declined");
  assert.equal(fusedRowBlockReduction(rows, { ...u, softcap: 30 }, 5, ids), null, "a softcap: declined");
  tf.dispose([u.weight, rows, ids, bias]);
});


test("cpu-native: a demo-sized lens is one kernel, without a product or statistics call of its own", async () => {
  const [n, d, V] = [640, 256, 1024];
  const { u, rows } = setup(n, d, V, "vocab_d", 50);
  const info = await tf.profile(() => lensReduction(rows, { unembedding: u, k: 5, targets: [7] }) as unknown as tf.TensorContainer);
  tf.dispose(info.result as unknown as tf.Tensor[]);
  const names = info.kernels.map((k) => k.name);
  assert.equal(names.filter((k) => k === "LmprobeLensRows").length, 1);
  assert.equal(names.filter((k) => k === "BatchMatMul" || k === "LmprobeLogitStats" || k === "LmprobeCountAbove").length, 0, names.join(" "));
  tf.dispose([u.weight, rows]);
});

test("cpu-native: a large-vocabulary lens is one kernel call per block of fusedRowsPerBlock rows", async () => {
  const [n, d, V] = [40, 16, 5000];
  const { u, rows } = setup(n, d, V, "vocab_d", 60);
  for (const targets of [[7], [7, 9]]) {
    const step = withBlockLogits(V * 3, () => fusedRowsPerBlock(u, targets.length));
    assert.equal(step, Math.floor(12 / targets.length), "rows per call: the lean row block's, shared among the targets");
    const info = await tf.profile(() => withBlockLogits(V * 3, () => lensReduction(rows, { unembedding: u, k: 5, targets })) as unknown as tf.TensorContainer);
    tf.dispose(info.result as unknown as tf.Tensor[]);
    const names = info.kernels.map((k) => k.name);
    assert.equal(names.filter((k) => k === "LmprobeLensRows").length, Math.ceil(n / step), `${targets.length} target(s): ${names.join(" ")}`);
    assert.equal(names.filter((k) => k === "BatchMatMul" || k === "LmprobeLogitStats" || k === "LmprobeCountAbove").length, 0, names.join(" "));
  }
  tf.dispose([u.weight, rows]);
});
