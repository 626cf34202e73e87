// Packed 16-bit weights on webgpu (backend/packed-weight.ts): every kernel that reads them must give the numbers of
// a float32 product over the same 16-bit values. Each case compares against a float64 product on the host of the
// values widened by io/half-float.ts (the loader's widening), on shapes that take the tiled kernel (≥ 64 rows and
// columns, the packed axis a multiple of 4) and shapes that do not (few rows, odd inner and outer sizes: odd rows are
// padded to a whole word). Runs where a WebGPU adapter exists; skips elsewhere, saying why.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { float32Weight, packWeight, packedWeightsEnabled, weightMatMul, weightMatMulTransposed, weightRowRange, weightRows, type HalfFormat, type PackedWeight } from "../../src/backend/packed-weight";
import { planPackedMatMul } from "../../src/backend/kernels/packed";
import { withDifferentiableOps } from "../../src/backend/gradient-mode";
import { ensureTfjsGradients } from "../../src/backend/tfjs-gradients";
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "../../src/io/half-float";
import { webgpuOrSkip } from "./webgpu-helpers";
import { maxError, randoms } from "./product-reference";

/** 16-bit patterns of random values (f16: some subnormals and signed zeros too) and their float32 widening. */
function halfMatrix(n: number, seed: number, format: HalfFormat): { bits: Uint16Array; values: Float32Array } {
  const v = randoms(n, seed);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    let x = v[i];
    if (format === "f16" && i % 7 === 3) x *= 2 ** -17; // subnormal in float16
    if (i % 11 === 5) x = i % 2 ? -0 : 0;
    bits[i] = format === "bf16" ? float32ToBfloat16Bits(x) : float32ToFloat16Bits(x);
  }
  const values = new Float32Array(n);
  (format === "bf16" ? bfloat16ToFloat32 : float16ToFloat32)(bits, values);
  return { bits, values };
}

/** A [rows, cols] (row-major) matrix's transpose. */
function transpose(v: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = v[i * cols + j];
  return out;
}

/** x [M, K] · w [K, N], float64. */
function product(x: Float32Array, w: Float32Array, M: number, K: number, N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) out[i * N + j] += x[i * K + k] * w[k * N + j];
  return out;
}

test("packed products match float64 over the same 16-bit values: tiled and plain kernels, both orientations, odd sizes", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  assert.ok(packedWeightsEnabled(), "webgpu has the packed kernels");
  ensureTfjsGradients();
  // [M, K, N]: the logical product x [M, K] · W [K, N]. Tiled ones need M, N ≥ 64 and the packed axis % 4 = 0.
  const cases: [number, number, number][] = [
    [5, 37, 29], // odd inner and outer sizes, few rows: plain kernel
    [1, 64, 96], // one row (decoding)
    [70, 36, 132], // tiled in both orientations (K, N multiples of 4), ragged 64-blocks
    [130, 64, 67], // tiled only when packed along K (N odd)
    [66, 33, 100], // K odd: plain kernel in both orientations
  ];
  for (const format of ["bf16", "f16"] as const) {
    for (const [M, K, N] of cases) {
      const { bits, values } = halfMatrix(K * N, M * 31 + K + N, format);
      const xv = randoms(M * K, M + 5 * K);
      const want = product(xv, values, M, K, N); // values are W [K, N]
      const before = tf.memory().numTensors;
      const x = tf.tensor2d(xv, [M, K]);
      // Stored as W [K, N] (GPT-2's Conv1D layout, packed along N) and as Wᵀ [N, K] marked transposed (nn.Linear's).
      const stored: [PackedWeight, boolean][] = [
        [packWeight(bits, [K, N], format, false), N % 4 === 0 && K % 4 === 0],
        [packWeight(transposeBits(bits, K, N), [N, K], format, true), K % 4 === 0],
      ];
      for (const [W, tiledExpected] of stored) {
        assert.deepEqual(W.shape, [K, N]);
        const label = `${format} [${M},${K}]·[${K},${N}] stored [${W.stored}]${W.transposed ? " transposed" : ""}`;
        const layout = W.transposed ? "nt" : "nn";
        const plan = planPackedMatMul([M, K], { layout, format, N, K });
        assert.equal(plan != null, tiledExpected && M >= 64 && N >= 64, `${label}: tiled plan`);
        const y = weightMatMul(x, W);
        assert.deepEqual(y.shape, [M, N]);
        assert.ok(maxError(await y.data(), want) < 1e-4, `${label}: max error ${maxError(await y.data(), want)}`);
        // Exact widening, in the logical orientation.
        const w32 = float32Weight(W);
        assert.deepEqual(w32.shape, [K, N]);
        assert.equal(maxError(await w32.data(), values), 0, `${label}: float32Weight`);
        w32.dispose();
        // Bias and residual (the tiled kernel's epilogue, or separate adds): the same numbers as the adds. (bf16 only:
        // each epilogue is another shader to compile, slow on a software adapter; the format changes only the loads.)
        if (format === "f16") {
          tf.dispose([y]);
          W.dispose();
          continue;
        }
        const bias = tf.tensor1d(randoms(N, N));
        const residual = tf.tensor2d(randoms(M * N, M), [M, N]);
        const yr = weightMatMul(x, W, bias, residual);
        const wantSum = tf.tidy(() => tf.add(residual, tf.add(y, bias)));
        const wantR = await wantSum.data();
        wantSum.dispose();
        assert.ok(maxError(await yr.data(), wantR) < 1e-5, `${label}: bias and residual`);
        // The same weight in a gradient: tfjs ops on the widened weight, and the gradient of Σ x·W is Σ_j W[k, j].
        const g = withDifferentiableOps(() => tf.grad((xx: tf.Tensor) => tf.sum(weightMatMul(xx as tf.Tensor2D, W)))(x));
        const rowSums = Array.from({ length: K }, (_, k) => values.slice(k * N, (k + 1) * N).reduce((s, v) => s + v, 0));
        const gv = await g.data();
        assert.ok(maxError(gv.slice(0, K), rowSums) < 1e-4, `${label}: gradient through the packed weight`);
        tf.dispose([y, yr, bias, residual, g]);
        W.dispose();
      }
      x.dispose();
      assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    }
  }
});

test("x · Wᵀ with a packed [N, K] weight (a tied unembedding), row ranges of it, and embedding lookups", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  for (const format of ["bf16", "f16"] as const) {
    for (const [M, N, K] of [[3, 101, 9], [80, 260, 48], [65, 130, 31]] as const) {
      const { bits, values } = halfMatrix(N * K, N + K, format); // E [N, K]
      const xv = randoms(M * K, 3 * M);
      const want = product(xv, transpose(values, N, K), M, K, N);
      const before = tf.memory().numTensors;
      const E = packWeight(bits, [N, K], format, false);
      const x = tf.tensor2d(xv, [M, K]);
      const y = weightMatMulTransposed(x, E);
      assert.ok(maxError(await y.data(), want) < 1e-4, `${format} x·Eᵀ [${M},${K}]·[${N},${K}]ᵀ: max error ${maxError(await y.data(), want)}`);
      // A vocabulary chunk [start, end) stays packed and gives the matching columns.
      const start = 7;
      const end = N - 3;
      const chunk = weightRowRange(E, start, end);
      const yc = weightMatMulTransposed(x, chunk);
      const wantC = Array.from({ length: M * (end - start) }, (_, i) => want[Math.floor(i / (end - start)) * N + start + (i % (end - start))]);
      assert.ok(maxError(await yc.data(), wantC) < 1e-4, `${format} chunk of rows`);
      // Rows by id, repeated and out of order: exact.
      const ids = [N - 1, 0, 5, 5, 2];
      const idsTensor = tf.tensor1d(ids, "int32");
      const rows = weightRows(E, idsTensor);
      const wantRows = ids.flatMap((id) => Array.from(values.slice(id * K, (id + 1) * K)));
      assert.equal(maxError(await rows.data(), wantRows), 0, `${format} embedding rows`);
      tf.dispose([x, y, yc, rows, idsTensor]);
      chunk.dispose();
      E.dispose();
      assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    }
  }
});

function transposeBits(bits: Uint16Array, rows: number, cols: number): Uint16Array {
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = bits[i * cols + j];
  return out;
}

// packWeight puts a weight on the device at once and submits the pending commands, so that a reused buffer's staging
// copy is released. The commands pending then may include an open compute pass (a float32 weight's slice recorded
// just before, as loading GPT-2's fused q|k|v bias does): finishing the command buffer with the pass still open made
// the whole buffer invalid, so those dispatches never ran and their outputs kept whatever their buffers held.
test("packing a weight while dispatches are pending keeps their results", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const errors: string[] = [];
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const onError = (ev: Event) => errors.push((ev as GPUUncapturedErrorEvent).error.message);
  device.addEventListener("uncapturederror", onError);
  try {
    const values = Float32Array.from({ length: 4096 }, (_, i) => (i % 97) - 48);
    const x = tf.tensor1d(values);
    const before = tf.mul(x, 2); // recorded into the open pass, not yet submitted
    const { bits } = halfMatrix(64 * 32, 9, "bf16");
    const W = packWeight(bits, [64, 32], "bf16", false);
    const after = tf.add(before, 1);
    const [a, b] = await Promise.all([before.data(), after.data()]);
    await device.queue.onSubmittedWorkDone();
    assert.deepEqual(errors, [], "no WebGPU validation error");
    values.forEach((v, i) => {
      assert.equal(a[i], 2 * v, `before[${i}]`);
      assert.equal(b[i], 2 * v + 1, `after[${i}]`);
    });
    tf.dispose([x, before, after]);
    W.dispose();
  } finally {
    device.removeEventListener("uncapturederror", onError);
  }
});
