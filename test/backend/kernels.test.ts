// The WGSL kernels run only where a WebGPU adapter exists (a GPU, or a software one chosen with
// LMPROBE_DAWN_OPTIONS="backend=opengl"); elsewhere those tests are skipped and say why. planMatMul's
// routing is plain logic and runs everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { planMatMul, planSmallOutput, matMulTiling } from "../../src/backend/kernels/batch-matmul";
import { logitStats } from "../../src/backend";
import { SynchronousReadError } from "../../src/errors";
import { webgpuOrSkip } from "./webgpu-helpers";
import { checkLogitStats } from "./logit-stats-check";
import { randoms } from "./product-reference";

test("planMatMul sends large aligned products to the tiled kernel and the rest to tfjs", () => {
  const p = planMatMul([1024, 896], [151936, 896], false, true)!;
  assert.deepEqual([p.batch, p.M, p.N, p.K, p.layout, p.aBatched, p.bBatched], [1, 1024, 151936, 896, "nt", false, false]);
  assert.deepEqual(p.outShape, [1024, 151936]);
  const batched = planMatMul([2, 14, 128, 64], [2, 14, 128, 64], false, true)!;
  assert.deepEqual([batched.batch, batched.aBatched, batched.bBatched, ...batched.outShape], [28, true, true, 2, 14, 128, 128]);
  const shared = planMatMul([4, 128, 768], [768, 3072], false, false)!;
  assert.deepEqual([shared.batch, shared.aBatched, shared.bBatched, ...shared.outShape], [4, true, false, 4, 128, 3072]);
  assert.equal(planMatMul([128, 768], [768, 50257], false, false), null, "N % 4 != 0 with B as [K, N]");
  assert.equal(planMatMul([128, 768], [50257, 768], false, true)?.N, 50257, "any N with B as [N, K]");
  assert.equal(planMatMul([128, 30], [30, 128], false, false), null, "K % 4 != 0");
  assert.equal(planMatMul([768, 128], [768, 128], true, false), null, "transposed A");
  assert.equal(planMatMul([1, 768], [768, 3072], false, false), null, "a single row (decoding) stays on tfjs's kernel");
  assert.equal(planMatMul([2, 1, 128, 64], [1, 3, 64, 128], false, false), null, "broadcast between batch shapes");
  // Block size: 128×128 when there are enough blocks to fill the GPU, else 64×64.
  assert.equal(planMatMul([1024, 768], [768, 768], false, false)!.tile, 64, "GPT-2's projections: 48 blocks of 128");
  assert.equal(planMatMul([1024, 896], [151936, 896], false, true)!.tile, 128, "a lens chunk");
});

test("tiled matmul matches a float64 product (nn, nt, batched, ragged edges) with 64- and 128-wide blocks", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const saved = matMulTiling.minBlocks128;
  try {
    // Both load schemes of the float32 kernel (LMPROBE_MATMUL_KERNEL, kernels/matmul.ts's MatMulVariant).
    for (const variant of ["v1", "v2"]) {
      process.env.LMPROBE_MATMUL_KERNEL = variant;
      for (const minBlocks of [saved, 0]) {
        matMulTiling.minBlocks128 = minBlocks;
        await tiledCases(minBlocks === 0 ? 128 : 64);
      }
    }
  } finally {
    matMulTiling.minBlocks128 = saved;
    delete process.env.LMPROBE_MATMUL_KERNEL;
  }
});

async function tiledCases(tile: number): Promise<void> {
  const cases: [number, number, number, boolean, number][] = [
    [130, 260, 48, false, 1],
    [200, 70, 36, true, 1],
    [64, 128, 16, true, 3],
    [129, 131, 64, true, 1],
  ];
  for (const [M, N, K, tb, batch] of cases) {
    const av = randoms(batch * M * K, M + N);
    const bv = randoms(batch * N * K, K + 7);
    const before = tf.memory().numTensors;
    const a = tf.tensor(av, batch > 1 ? [batch, M, K] : [M, K]);
    const b = tf.tensor(bv, tb ? (batch > 1 ? [batch, N, K] : [N, K]) : batch > 1 ? [batch, K, N] : [K, N]);
    assert.equal(planMatMul(a.shape, b.shape, false, tb)?.tile, tile, "the case reaches the tiled kernel with this block size");
    const c = tf.matMul(a, b, false, tb);
    const got = await c.data();
    let maxErr = 0;
    for (let q = 0; q < batch; q++) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += av[(q * M + i) * K + k] * (tb ? bv[(q * N + j) * K + k] : bv[(q * K + k) * N + j]);
          maxErr = Math.max(maxErr, Math.abs(s - got[(q * M + i) * N + j]));
        }
      }
    }
    assert.ok(maxErr < 1e-4, `[${M},${N},${K}] nt=${tb} batch=${batch} tile ${tile}: max error ${maxErr}`);
    tf.dispose([a, b, c]);
    assert.equal(tf.memory().numTensors, before);
  }
}

test("tf.fused.matMul's bias runs in the tiled kernel's epilogue and matches a float64 product plus bias", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  // [M, N, K, transposeB, batch of A (B shared)]: vector stores (N % 4 = 0), scalar stores, a shared weight.
  const cases: [number, number, number, boolean, number][] = [
    [130, 260, 48, false, 1],
    [200, 70, 36, true, 1],
    [96, 128, 64, false, 3],
  ];
  for (const [M, N, K, tb, batch] of cases) {
    const av = randoms(batch * M * K, M + 3);
    const bv = randoms(N * K, K + 9);
    const biasv = randoms(N, N, 4);
    const before = tf.memory().numTensors;
    const a = tf.tensor(av, batch > 1 ? [batch, M, K] : [M, K]);
    const b = tf.tensor(bv, tb ? [N, K] : [K, N]);
    const bias = tf.tensor1d(biasv);
    const c = tf.fused.matMul({ a, b, transposeB: tb, bias });
    const got = await c.data();
    let maxErr = 0;
    for (let q = 0; q < batch; q++) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = biasv[j];
          for (let k = 0; k < K; k++) s += av[(q * M + i) * K + k] * (tb ? bv[j * K + k] : bv[k * N + j]);
          maxErr = Math.max(maxErr, Math.abs(s - got[(q * M + i) * N + j]));
        }
      }
    }
    assert.ok(maxErr < 1e-4, `[${M},${N},${K}] nt=${tb} batch=${batch}: max error ${maxErr}`);
    // An activation is not the epilogue's: tfjs's own kernel still gives relu(a·b + bias).
    const r = tf.fused.matMul({ a, b, transposeB: tb, bias, activation: "relu" });
    const rv = await r.data();
    assert.ok(Array.from(rv).every((v, i) => Math.abs(v - Math.max(0, got[i])) < 1e-4), "relu fused matmul");
    tf.dispose([a, b, bias, c, r]);
    assert.equal(tf.memory().numTensors, before);
  }
});

test("small outputs over a long inner dimension (a Gram matrix of layers) take the two-pass split-K path and match float64", async (t) => {
  assert.deepEqual(planSmallOutput([13, 786432], [13, 786432], false, true), { M: 13, N: 13, K: 786432, nt: true });
  assert.equal(planSmallOutput([13, 1000], [13, 1000], false, true), null, "short K stays with the other kernels");
  assert.equal(planSmallOutput([2, 13, 40000], [2, 13, 40000], false, true), null, "batched products too");
  assert.equal(planSmallOutput([128, 40000], [64, 40000], false, true), null, "8192 outputs are not small");
  if (!(await webgpuOrSkip(t))) return;
  for (const [M, N, K, nt] of [[13, 13, 40000, true], [7, 9, 20001, false]] as const) {
    const av = randoms(M * K, M + K);
    const bv = randoms(N * K, N + 3);
    const before = tf.memory().numTensors;
    const a = tf.tensor2d(av, [M, K]);
    const b = tf.tensor2d(bv, nt ? [N, K] : [K, N]);
    const c = tf.matMul(a, b, false, nt);
    assert.deepEqual(c.shape, [M, N]);
    const got = await c.data();
    let worst = 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += av[i * K + k] * (nt ? bv[j * K + k] : bv[k * N + j]);
        worst = Math.max(worst, Math.abs(s - got[i * N + j]) / Math.sqrt(K));
      }
    }
    assert.ok(worst < 1e-5, `[${M},${K}]x[${K},${N}] nt=${nt}: error ${worst} (per √K)`);
    tf.dispose([a, b, c]);
    assert.equal(tf.memory().numTensors, before);
  }
});

test("logitStats matches float64 log-sum-exp, entropy and top-k, with -Infinity, NaN and ties", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  await checkLogitStats();
});

test("a synchronous read of a GPU tensor is a typed error saying to await data()", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const x = tf.add(tf.ones([64, 64]), 1); // computed on the GPU, so its data lives there
  assert.throws(() => x.dataSync(), (err: unknown) => err instanceof SynchronousReadError && /await tensor\.data\(\)/.test((err as Error).message));
  assert.equal((await x.data())[0], 2);
  x.dispose();
});
