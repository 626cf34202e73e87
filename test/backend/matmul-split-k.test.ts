// Split-K in the tiled matmul (kernels/split-k.ts): when it splits and into what, and that a split product equals a
// float64 product on the host, float32 and packed weights, both block sizes and load schemes, with K not a multiple
// of the slice depth (the last K-slice short) and the bias + residual epilogue applied once, after the sum.
// The WebGPU half runs where an adapter exists (webgpu-in-process.json); the planning half runs everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { chooseSplitK, chooseUnitsSplitK, shallowSplitKTiling, splitKTiling, unitsSplitKTiling } from "../../src/backend/kernels/split-k";
import { matMulTiling } from "../../src/backend/kernels/batch-matmul";
import { packWeight, weightMatMul } from "../../src/backend/packed-weight";
import { bfloat16ToFloat32, float32ToBfloat16Bits } from "../../src/io/half-float";
import { LmprobeError } from "../../src/errors";
import { loadModel } from "../../src/load";
import { assertWithinLargest, countDispatches, webgpuOrSkip } from "./webgpu-helpers";
import { maxError, productReference, randoms } from "./product-reference";

function withEnv<T>(name: string, value: string | undefined, fn: () => T): T {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

test("the deep-slices rule (opt-out) splits few rows over a deep K, never many rows, a short K, a batch or oversized partials", () => {
  withEnv("LMPROBE_MATMUL_SPLITK", undefined, () => withEnv("LMPROBE_MATMUL_SPLITK_RULE", "deep-slices", () => {
    // Llama-3.1-8B at 128 rows, 64×64 blocks: q/o (128 blocks), k/v (32), MLP up (448), down (K = 14336); its lens.
    for (const [N, K, tile] of [[4096, 4096, 64], [1024, 4096, 64], [14336, 4096, 64], [4096, 14336, 64], [128256, 4096, 128]]) {
      const { splits, kChunk } = chooseSplitK(128, N, K, tile, 1);
      const blocks = Math.ceil(128 / tile) * (N / tile);
      assert.ok(splits >= 2, `[128, ${K}]·[${K}, ${N}] splits (${blocks} blocks)`);
      assert.equal(kChunk % 16, 0, "K-slices are whole 16-deep tiles");
      assert.ok(kChunk >= splitKTiling.minChunk, "no slice shallower than minChunk");
      assert.ok(splits * kChunk >= K && (splits - 1) * kChunk < K, "the slices cover K, none empty");
      assert.ok(blocks * splits <= 2 * splitKTiling.targetWorkgroups, "about the target workgroup count, not far past it");
    }
    // Wider blocks (the matrix units' 64 × 256): fewer workgroups, so more slices.
    assert.ok(chooseSplitK(128, 4096, 14336, 64, 1, 256).splits > chooseSplitK(128, 4096, 14336, 64, 1).splits);
    // Many rows (1024: splitting measured slower), GPT-2's K = 768, a batch: one slice.
    assert.equal(chooseSplitK(1024, 4096, 4096, 128, 1).splits, 1);
    assert.equal(chooseSplitK(128, 3072, 768, 64, 1).splits, 1);
    assert.equal(chooseSplitK(128, 4096, 4096, 64, 8).splits, 1);
  }));
  assert.equal(withEnv("LMPROBE_MATMUL_SPLITK", "off", () => chooseSplitK(128, 1024, 4096, 64, 1).splits), 1);
  assert.deepEqual(withEnv("LMPROBE_MATMUL_SPLITK", "3", () => chooseSplitK(1024, 14336, 100, 128, 1)), { splits: 3, kChunk: 48 });
  // Forced or not, the partials stay under maxPartialBytes: 8 × 1024 × 128256 floats would be 4.2 GB.
  const lens = withEnv("LMPROBE_MATMUL_SPLITK", "8", () => chooseSplitK(1024, 128256, 4096, 128, 1));
  assert.ok(lens.splits * 1024 * 128256 * 4 <= splitKTiling.maxPartialBytes, `${lens.splits} slices of the 8B's lens at 1024 rows`);
  assert.throws(
    () => withEnv("LMPROBE_MATMUL_SPLITK", "two", () => chooseSplitK(128, 1024, 4096, 64, 1)),
    (err: unknown) => err instanceof LmprobeError && /LMPROBE_MATMUL_SPLITK/.test((err as Error).message),
  );
  // The deep-slices rule's shallowest slice, for an A/B of that one choice: GPT-2's 768-deep products at 128 rows
  // split once it allows 256-deep slices; a value that is not a multiple of 16 is an error.
  withEnv("LMPROBE_MATMUL_SPLITK_RULE", "deep-slices", () => {
    assert.equal(withEnv("LMPROBE_MATMUL_SPLITK_MIN_CHUNK", "256", () => chooseSplitK(128, 768, 768, 64, 1)).splits, 3);
    assert.equal(chooseSplitK(128, 768, 768, 64, 1).splits, 1);
  });
  assert.throws(
    () => withEnv("LMPROBE_MATMUL_SPLITK_MIN_CHUNK", "100", () => chooseSplitK(128, 768, 768, 64, 1)),
    (err: unknown) => err instanceof LmprobeError && /LMPROBE_MATMUL_SPLITK_MIN_CHUNK/.test((err as Error).message),
  );
});

test("the default rule (shallow-slices) splits few-block products into up to 8 slices from 96 deep, at any number of rows under one wave", () => {
  withEnv("LMPROBE_MATMUL_SPLITK", undefined, () => {
    const deep = <T>(fn: () => T) => withEnv("LMPROBE_MATMUL_SPLITK_RULE", "deep-slices", fn);
    assert.deepEqual(withEnv("LMPROBE_MATMUL_SPLITK_RULE", undefined, () => chooseSplitK(128, 768, 768, 64, 1)), { splits: 8, kChunk: 96 });
    // GPT-2-small's 768-deep products at 128 rows (24 blocks of 64 × 64): 8 slices of 96, whole under deep-slices.
    assert.deepEqual(chooseSplitK(128, 768, 768, 64, 1), { splits: 8, kChunk: 96 });
    assert.deepEqual(withEnv("LMPROBE_MATMUL_SPLITK_RULE", "shallow-slices", () => chooseSplitK(128, 768, 768, 64, 1)), { splits: 8, kChunk: 96 });
    assert.equal(deep(() => chooseSplitK(128, 768, 768, 64, 1)).splits, 1);
    // Its MLP down (3072 deep): deep-slices' 3 slices, 8 by default (the cap, though 1056 / 24 wants 44).
    assert.equal(deep(() => chooseSplitK(128, 768, 3072, 64, 1)).splits, 3);
    assert.equal(chooseSplitK(128, 768, 3072, 64, 1).splits, shallowSplitKTiling.maxSplits);
    // Qwen2.5-0.5B's k/v at 128 rows (4 blocks) and at 1024 rows (32 blocks, under one wave): 8 slices of 112.
    assert.deepEqual(chooseSplitK(128, 128, 896, 64, 1), { splits: 8, kChunk: 112 });
    assert.deepEqual(chooseSplitK(1024, 128, 896, 64, 1), { splits: 8, kChunk: 112 });
    assert.equal(deep(() => chooseSplitK(1024, 128, 896, 64, 1)).splits, 1);
    // Many rows and many blocks (GPT-2's 768 × 768 at 1024 rows: 192 blocks), K under two 96-deep slices, a batch: whole.
    assert.equal(chooseSplitK(1024, 768, 768, 64, 1).splits, 1);
    assert.equal(chooseSplitK(128, 768, 2 * shallowSplitKTiling.minChunk - 16, 64, 1).splits, 1);
    assert.equal(chooseSplitK(128, 4096, 4096, 64, 8).splits, 1);
    // The 8B at 128 rows: every slice whole 16-deep steps, at least 96 deep, covering K; at most 8 slices.
    for (const [N, K] of [[4096, 4096], [1024, 4096], [14336, 4096], [4096, 14336]]) {
      const { splits, kChunk } = chooseSplitK(128, N, K, 64, 1);
      assert.ok(splits >= 2 && splits <= shallowSplitKTiling.maxSplits, `[128, ${K}]·[${K}, ${N}]: ${splits} slices`);
      assert.ok(kChunk % 16 === 0 && kChunk >= shallowSplitKTiling.minChunk && splits * kChunk >= K && (splits - 1) * kChunk < K);
    }
  });
  assert.throws(
    () => withEnv("LMPROBE_MATMUL_SPLITK_RULE", "shallow", () => chooseSplitK(128, 768, 768, 64, 1)),
    (err: unknown) => err instanceof LmprobeError && /LMPROBE_MATMUL_SPLITK_RULE/.test((err as Error).message),
  );
});

test("the matrix units split K towards one wave of their large workgroups, in powers of two, at any number of rows", () => {
  withEnv("LMPROBE_MATMUL_SPLITK", undefined, () => {
    // [M, K]·[K, N] with the units' 128 × 128 blocks unless said; expected slices from the H100 sweep.
    const cases: [string, number, number, number, number, number][] = [
      ["8B MLP down, 128 rows (32 blocks)", 128, 4096, 14336, 128, 4],
      ["8B MLP up, 128 rows (56 blocks of 128 × 256)", 128, 14336, 4096, 256, 2],
      ["Qwen2.5-0.5B MLP down, 1024 rows (56 blocks)", 1024, 896, 4864, 128, 2],
      ["GPT-2 MLP down, 1024 rows (48 blocks)", 1024, 768, 3072, 128, 2],
      ["GPT-2 MLP up, 1024 rows (96 blocks of 128 × 256)", 1024, 3072, 768, 256, 1],
      ["8B lm head, 128 rows (501 blocks)", 128, 128256, 4096, 256, 1],
      ["K too short for two 256-deep slices", 1024, 768, 384, 128, 1],
    ];
    for (const [what, M, N, K, cols, expected] of cases) {
      const { splits, kChunk } = chooseUnitsSplitK(M, N, K, 128, cols);
      assert.equal(splits, expected, what);
      if (splits > 1) {
        assert.equal(kChunk % 16, 0, `${what}: whole 16-deep steps`);
        assert.ok(kChunk >= unitsSplitKTiling.minChunk && (splits - 1) * kChunk < K && splits * kChunk >= K, `${what}: slices cover K`);
      }
    }
    // The tiled kernel's rule (the A/B arm): no split at 1024 rows where the blocks fill a wave, the tiled choice at 128.
    withEnv("LMPROBE_MATRIX_UNIT_SPLITK", "tiled", () => {
      assert.equal(chooseUnitsSplitK(1024, 14336, 4096, 128, 256).splits, 1);
      assert.deepEqual(chooseUnitsSplitK(128, 4096, 14336, 128, 128), chooseSplitK(128, 4096, 14336, 128, 1, 128));
    });
  });
  // LMPROBE_MATMUL_SPLITK forces the units' slices too.
  assert.equal(withEnv("LMPROBE_MATMUL_SPLITK", "off", () => chooseUnitsSplitK(128, 4096, 14336, 128, 128).splits), 1);
  assert.equal(withEnv("LMPROBE_MATMUL_SPLITK", "8", () => chooseUnitsSplitK(1024, 3072, 768, 128, 256).splits), 8);
  assert.throws(
    () => withEnv("LMPROBE_MATRIX_UNIT_SPLITK", "fast", () => chooseUnitsSplitK(128, 4096, 14336, 128, 128)),
    (err: unknown) => err instanceof LmprobeError && /LMPROBE_MATRIX_UNIT_SPLITK/.test((err as Error).message),
  );
});

test("split products equal float64 ones: float32 and packed weights, both block sizes and load schemes, short last slice, bias + residual", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const savedBlocks = matMulTiling.minBlocks128;
  // [M, K, N]: K = 100 in slices of 48, 48, 4 (three slices, the last short of one 16-deep tile); N % 4 ≠ 0 in one.
  const cases: [number, number, number][] = [
    [70, 100, 136],
    [131, 100, 66],
  ];
  try {
    // Each load scheme with one block size (every pairing compiles 16 shaders; the schemes' loads are what the K
    // offset touches, the block size is checked by the other pairing).
    for (const [variant, tile] of [["v1", 64], ["v2", 128]] as const) {
      {
        matMulTiling.minBlocks128 = tile === 128 ? 0 : Infinity;
        for (const [M, K, N] of cases) {
          const before = tf.memory().numTensors;
          const xv = randoms(M * K, M + K);
          const wv = new Float32Array(randoms(K * N, K * N + 3).map((v) => bfloat16ToFloat32Value(v)));
          const bv = randoms(N, N);
          const rv = randoms(M * N, M * N + 1);
          const want = productReference(xv, (k, j) => wv[k * N + j], M, K, N, bv, rv);
          const wantPlain = productReference(xv, (k, j) => wv[k * N + j], M, K, N, new Float32Array(N), new Float32Array(M * N));
          const x = tf.tensor2d(xv, [M, K]);
          // N % 4 ≠ 0 only in the stored-transposed layout ([N, K], nn.Linear's), which the tiled kernel takes.
          const nt = N % 4 !== 0;
          const stored = nt ? transpose(wv, K, N) : wv;
          const w = tf.tensor2d(stored, nt ? [N, K] : [K, N]);
          const bias = tf.tensor1d(bv);
          const residual = tf.tensor2d(rv, [M, N]);
          const bits = new Uint16Array(K * N);
          for (let i = 0; i < bits.length; i++) bits[i] = float32ToBfloat16Bits(stored[i]);
          const W = packWeight(bits, nt ? [N, K] : [K, N], "bf16", nt);
          for (const splits of ["3", "off"]) {
            const label = `${variant} tile ${tile} [${M},${K}]·[${K},${N}] LMPROBE_MATMUL_SPLITK=${splits}`;
            const env = { LMPROBE_MATMUL_SPLITK: splits, LMPROBE_MATMUL_KERNEL: variant, LMPROBE_PACKED_KERNEL: variant };
            const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
            Object.assign(process.env, env);
            try {
              const plain = tf.matMul(x, w, false, nt);
              const fused = tf.fused.matMul({ a: x, b: w, bias, transposeB: nt });
              const packed = weightMatMul(x, W, bias, residual);
              assert.ok(maxError(await plain.data(), wantPlain) < 1e-4, `${label}: float32 product`);
              const biasOnly = productReference(xv, (k, j) => wv[k * N + j], M, K, N, bv, new Float32Array(M * N));
              assert.ok(maxError(await fused.data(), biasOnly) < 1e-4, `${label}: float32 product + bias`);
              assert.ok(maxError(await packed.data(), want) < 1e-4, `${label}: packed product + bias + residual (max error ${maxError(await packed.data(), want)})`);
              tf.dispose([plain, fused, packed]);
            } finally {
              for (const [k, v] of Object.entries(saved)) {
                if (v === undefined) delete process.env[k];
                else process.env[k] = v;
              }
            }
          }
          W.dispose();
          tf.dispose([x, w, bias, residual]);
          assert.equal(tf.memory().numTensors, before, "no tensors left behind");
        }
      }
    }
  } finally {
    matMulTiling.minBlocks128 = savedBlocks;
  }
});

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = w[i * cols + j];
  return out;
}

/** The float32 value nearest v that bfloat16 holds exactly (so packed and float32 weights carry the same values). */
function bfloat16ToFloat32Value(v: number): number {
  const out = new Float32Array(1);
  bfloat16ToFloat32(new Uint16Array([float32ToBfloat16Bits(v)]), out);
  return out[0];
}

test("the demo model on webgpu under the default rule (shallow-slices): more products split than under deep-slices, logits within float32 rounding of its", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const sums = countDispatches((key) => key.startsWith("lmprobeSplitKSum"));
  const saved = process.env.LMPROBE_MATMUL_SPLITK_RULE;
  const model = await loadModel("demo");
  try {
    // 128 positions: every product has at most 256 rows; the MLP down-projection is 704 deep, q/k/v/o 256.
    const ids = Array.from({ length: 128 }, (_, i) => 1 + ((i * 37) % (model.config.vocabSize - 1)));
    const logits = async (rule: string) => {
      process.env.LMPROBE_MATMUL_SPLITK_RULE = rule;
      const before = sums.count();
      const r = model.run([ids]);
      const values = await r.logits.data();
      r.dispose();
      return { values, sums: sums.count() - before };
    };
    const deep = await logits("deep-slices");
    const shallow = await logits("shallow-slices");
    assert.equal(deep.sums, 0, "deep-slices splits none of the demo's products (K < 2 × 1024)");
    assert.ok(shallow.sums >= 2 * model.nLayers, `shallow-slices split ${shallow.sums} products`);
    assertWithinLargest(shallow.values, deep.values, 1e-5, "shallow-slices against deep-slices");
  } finally {
    sums.stop();
    model.dispose();
    if (saved === undefined) delete process.env.LMPROBE_MATMUL_SPLITK_RULE;
    else process.env.LMPROBE_MATMUL_SPLITK_RULE = saved;
  }
});
