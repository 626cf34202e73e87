// Every variant of the tiled packed product (kernels/matmul.ts: load scheme v1 or v2, LMPROBE_PACKED_KERNEL; 64- or
// 128-wide blocks, matMulTiling) against a float64 product on the host of the same widened 16-bit values: both
// stored layouts, a row offset into a larger weight (a view), ragged edges in M, N and K (K not a multiple of the
// 16-deep slice), and the bias + residual epilogue. A swizzle or load-index slip in one variant shows as a wrong
// element here. Runs where a WebGPU adapter exists; skips elsewhere, saying why.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { packWeight, weightColumnRange, weightMatMul, weightRowRange, type HalfFormat } from "../../src/backend/packed-weight";
import { planPackedMatMul } from "../../src/backend/kernels/packed";
import { matMulTiling, matMulVariant } from "../../src/backend/kernels/batch-matmul";
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "../../src/io/half-float";
import { LmprobeError } from "../../src/errors";
import { webgpuOrSkip } from "./webgpu-helpers";
import { maxError, productReference, randoms } from "./product-reference";

function halves(n: number, seed: number, format: HalfFormat): { bits: Uint16Array; values: Float32Array } {
  const v = randoms(n, seed);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = format === "bf16" ? float32ToBfloat16Bits(v[i]) : float32ToFloat16Bits(v[i]);
  const values = new Float32Array(n);
  (format === "bf16" ? bfloat16ToFloat32 : float16ToFloat32)(bits, values);
  return { bits, values };
}

test("tiled packed product, every variant and block size: both layouts, row offsets, ragged M/N/K, bias + residual", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const savedVariant = process.env.LMPROBE_PACKED_KERNEL;
  const savedBlocks = matMulTiling.minBlocks128;
  // [M, K, N] of the logical product; the stored weight has `extra` more rows than the view the product reads.
  const cases: [number, number, number][] = [
    [131, 52, 136], // M, N past a 128 block; K = 3 slices + 4
    [70, 36, 68], // less than one 128 block in M and N
  ];
  const extra = 5;
  try {
    for (const variant of ["v1", "v2"] as const) {
      process.env.LMPROBE_PACKED_KERNEL = variant;
      assert.equal(matMulVariant(true), variant);
      for (const tile of [64, 128] as const) {
        matMulTiling.minBlocks128 = tile === 128 ? 0 : Infinity;
        for (const [M, K, N] of cases) {
          const format: HalfFormat = M % 2 ? "bf16" : "f16";
          const xv = randoms(M * K, M + K);
          const bv = randoms(N, N);
          const rv = randoms(M * N, M * N);
          const before = tf.memory().numTensors;
          const x = tf.tensor2d(xv, [M, K]);
          const bias = tf.tensor1d(bv);
          const residual = tf.tensor2d(rv, [M, N]);
          for (const transposed of [false, true]) {
            const label = `${variant} tile ${tile} ${format} [${M},${K}]·[${K},${N}]${transposed ? " stored transposed" : ""}`;
            let want: Float64Array;
            let stored;
            let W;
            if (!transposed) {
              // Stored [extra + K, N] packed along N; the view is rows [extra, extra + K): a row offset of `extra`.
              const { bits, values } = halves((extra + K) * N, K * N + 1, format);
              stored = packWeight(bits, [extra + K, N], format, false);
              W = weightRowRange(stored, extra, extra + K);
              want = productReference(xv, (k, j) => values[(extra + k) * N + j], M, K, N, bv, rv);
            } else {
              // Stored [extra + N, K] packed along K (nn.Linear's layout); the view is its stored rows [extra, extra + N).
              const { bits, values } = halves((extra + N) * K, K * N + 2, format);
              stored = packWeight(bits, [extra + N, K], format, true);
              W = weightColumnRange(stored, extra, extra + N);
              want = productReference(xv, (k, j) => values[(extra + j) * K + k], M, K, N, bv, rv);
            }
            assert.deepEqual(W.shape, [K, N]);
            const plan = planPackedMatMul([M, K], { layout: transposed ? "nt" : "nn", format, N, K, rowOffset: extra });
            assert.equal(plan?.tile, tile, `${label}: the tiled kernel with this block size runs it`);
            const y = weightMatMul(x, W as tf.Tensor2D, bias, residual);
            const got = await y.data();
            assert.ok(maxError(got, want) < 1e-4, `${label}: max error ${maxError(got, want)}`);
            tf.dispose(y);
            if (W !== stored) (W as { dispose(): void }).dispose();
            stored.dispose();
          }
          tf.dispose([x, bias, residual]);
          assert.equal(tf.memory().numTensors, before, "no tensors left behind");
        }
      }
    }
  } finally {
    if (savedVariant === undefined) delete process.env.LMPROBE_PACKED_KERNEL;
    else process.env.LMPROBE_PACKED_KERNEL = savedVariant;
    matMulTiling.minBlocks128 = savedBlocks;
  }
});

test("an unknown LMPROBE_PACKED_KERNEL / LMPROBE_MATMUL_KERNEL is a typed error naming the variable", () => {
  const saved = process.env.LMPROBE_MATMUL_KERNEL;
  try {
    process.env.LMPROBE_MATMUL_KERNEL = "v3";
    assert.throws(() => matMulVariant(false, 128, 768), (e: unknown) => e instanceof LmprobeError && /LMPROBE_MATMUL_KERNEL/.test((e as Error).message) && /v1 or v2/.test((e as Error).message));
    delete process.env.LMPROBE_MATMUL_KERNEL;
    // Unset, by shape (the H100 measurements in batch-matmul.ts).
    assert.equal(matMulVariant(false, 128, 768), "v1");
    assert.equal(matMulVariant(false, 128, 4096), "v2");
    assert.equal(matMulVariant(false, 1024, 768), "v2");
    assert.equal(matMulVariant(true, 128, 4096), "v2");
    assert.equal(matMulVariant(true, 1024, 4096), "v1");
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_MATMUL_KERNEL;
    else process.env.LMPROBE_MATMUL_KERNEL = saved;
  }
});
