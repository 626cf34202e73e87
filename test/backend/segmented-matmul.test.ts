// q, k and v as one product (kernels/segmented.ts, weightsMatMul) and attention reading it in place (qkvScores,
// qkvContext): the same bits as three separate products and as the in-place products on separate q, k, v, for
// float32 weights and packed bf16 ones in both stored orientations, with and without biases, grouped heads too; and
// GPT-2 runs one product per layer with the numbers of the path that projects q, k and v apart. The WebGPU tests run
// where an adapter exists (webgpu-in-process.json); off webgpu the functions return null.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../../src/backend";
import { matMulTiling } from "../../src/backend/kernels/batch-matmul";
import { fusedRotaryHalf, fusedRotaryHalfFromQkv, headsContext, headsScores, qkvContext, qkvScores } from "../../src/backend/kernels";
import { packWeight, weightMatMul, weightsMatMul, type Weight2D } from "../../src/backend/packed-weight";
import { bfloat16ToFloat32, float32ToBfloat16Bits } from "../../src/io/half-float";
import { loadModel } from "../../src/load";
import { countDispatches, saveEnv, webgpuOrSkip } from "./webgpu-helpers";
import { JOINT_QKV_MAX_ROWS, jointQkvRows } from "../../src/backend/capabilities";
import { LmprobeError } from "../../src/errors";
import { maxError, productReference, randoms } from "./product-reference";

test("weightsMatMul is null off webgpu", async () => {
  await ensureBackend();
  if (tf.getBackend() === "webgpu") return;
  const x = tf.ones([64, 64]) as tf.Tensor2D;
  const W = tf.ones([64, 64]) as tf.Tensor2D;
  assert.equal(weightsMatMul(x, [W, W, W], [null, null, null]), null);
  tf.dispose([x, W]);
});

const bf16Bits = (values: Float32Array) => Uint16Array.from(values, (v) => float32ToBfloat16Bits(v));

/** The float32 value of each value's bfloat16 rounding. */
function bf16Values(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  bfloat16ToFloat32(bf16Bits(values), out);
  return out;
}

/** A [K, N] weight of `kind`: float32, or bf16 packed as stored [K, N] ("nn") or [N, K] (nn.Linear, "nt"). */
function weight(kind: "f32" | "bf16-nn" | "bf16-nt", K: number, N: number, seed: number): Weight2D {
  const values = randoms(K * N, seed); // [K, N] row-major
  if (kind === "f32") return tf.tensor2d(values, [K, N]);
  if (kind === "bf16-nn") return packWeight(bf16Bits(values), [K, N], "bf16", false);
  const stored = new Float32Array(K * N); // [N, K]
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) stored[n * K + k] = values[k * N + n];
  return packWeight(bf16Bits(stored), [N, K], "bf16", true);
}

test("one product of three weights equals three products, bit for bit: float32 and packed, both orientations, bias or none", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const saved = matMulTiling.minBlocks128;
  try {
    // [M, K, widths, kind, bias, block]: GPT-2-like (equal widths) and grouped (k and v narrower); float32 and packed
    // in both stored orientations; with and without biases; both block sizes. (One shader per case: each takes
    // seconds to compile on a software adapter, so the cases cover the kinds rather than all their combinations.)
    const cases: [number, number, number[], "f32" | "bf16-nn" | "bf16-nt", boolean, 64 | 128][] = [
      [96, 64, [128, 128, 128], "f32", true, 64],
      [64, 48, [64, 64, 64], "bf16-nt", false, 64],
      [130, 96, [256, 128, 128], "bf16-nn", true, 128],
      // Segments that are not whole blocks (a workgroup's columns straddle two weights), as in small grouped models.
      [80, 64, [64, 32, 36], "f32", true, 64],
      [80, 64, [64, 32, 32], "bf16-nt", true, 64],
      // Packed products of more than 256 rows take the other load scheme (v1; batch-matmul.ts matMulVariant).
      [300, 64, [128, 64, 64], "bf16-nt", true, 64],
    ];
    for (const [M, K, widths, kind, withBias, block] of cases) {
      matMulTiling.minBlocks128 = block === 128 ? 0 : Infinity;
      const before = tf.memory().numTensors;
      const x = tf.tensor2d(randoms(M * K, 7), [M, K]);
      const Ws = widths.map((N, i) => weight(kind, K, N, 20 + i));
      const bs = widths.map((N, i) => (withBias ? tf.tensor1d(randoms(N, 30 + i)) : null));
      const joint = weightsMatMul(x, Ws, bs);
      const label = `${kind}, M ${M}, widths ${widths}, bias ${withBias}, blocks of ${block}`;
      assert.ok(joint, `${label}: taken`);
      assert.deepEqual(joint.shape, [M, widths.reduce((a, b) => a + b, 0)]);
      const apart = tf.tidy(() => tf.concat(Ws.map((W, i) => weightMatMul(x, W, bs[i])), 1));
      const got = await joint.data();
      assert.ok(got.some((v) => Math.abs(v) > 1e-3), `${label}: not all zeros`);
      if (widths.every((w) => w >= 64)) {
        // Each weight alone takes the tiled kernel too: the same multiply-adds in the same order.
        assert.deepEqual(Array.from(got), Array.from(await apart.data()), label);
      } else {
        // A weight under 64 columns alone runs another kernel (other last bits): both against float64.
        const N = widths.reduce((a, b) => a + b, 0);
        const columns = widths.map((w, i) => (kind === "f32" ? randoms(K * w, 20 + i) : bf16Values(randoms(K * w, 20 + i))));
        const biasValues = withBias ? Float32Array.from(widths.flatMap((w, i) => Array.from(randoms(w, 30 + i)))) : new Float32Array(N);
        const starts = widths.map((_, i) => widths.slice(0, i).reduce((a, b) => a + b, 0));
        const at = (k: number, j: number) => {
          const i = starts.findLastIndex((st) => j >= st);
          return columns[i][k * widths[i] + (j - starts[i])];
        };
        const want = productReference(await x.data() as Float32Array, at, M, K, N, biasValues, new Float32Array(M * N));
        assert.ok(maxError(got, want) < 1e-4, `${label}: against float64 (max error ${maxError(got, want)})`);
        assert.ok(maxError(await apart.data(), want) < 1e-4, `${label}: the separate products against float64`);
      }
      tf.dispose([x, joint, apart, ...bs.filter((b): b is tf.Tensor1D => b != null)]);
      for (const W of Ws) W.dispose();
      assert.equal(tf.memory().numTensors, before, `${label}: tensors leaked`);
    }
    // Left to separate products: a width that is not whole blocks, weights of two kinds, one bias of three, too few rows.
    matMulTiling.minBlocks128 = Infinity;
    const x = tf.tensor2d(randoms(64 * 64, 3), [64, 64]);
    const f = (N: number) => weight("f32", 64, N, N) as tf.Tensor2D;
    const [a, b, c, odd] = [f(64), f(64), f(64), f(98)];
    const packed = weight("bf16-nn", 64, 64, 5);
    const bias = tf.zeros([64]) as tf.Tensor1D;
    assert.equal(weightsMatMul(x, [a, odd, c], [null, null, null]), null, "a width of 98 is not a multiple of 4");
    assert.equal(weightsMatMul(x, [a, packed, c], [null, null, null]), null, "float32 beside packed");
    assert.equal(weightsMatMul(x, [a, b, c], [bias, null, null]), null, "one bias of three");
    const few = tf.slice(x, [0, 0], [8, 64]) as tf.Tensor2D;
    assert.equal(weightsMatMul(few, [a, b, c], [null, null, null]), null, "8 rows");
    tf.dispose([x, a, b, c, odd, bias, few]);
    packed.dispose();
  } finally {
    matMulTiling.minBlocks128 = saved;
  }
});

test("scores and pattern · v read from the q|k|v product equal the in-place products on q, k, v apart", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  for (const [i, [pos, heads, kvHeads, dHead]] of [[96, 4, 4, 64], [128, 8, 2, 64], [64, 6, 3, 64]].entries()) {
    const before = tf.memory().numTensors;
    const row = (heads + 2 * kvHeads) * dHead;
    const qkv = tf.tensor3d(randoms(pos * row, 40 + i), [1, pos, row]);
    const flat = tf.reshape(qkv, [pos, row]);
    const part = (start: number, n: number) => tf.tidy(() => tf.reshape(tf.slice(flat, [0, start * dHead], [pos, n * dHead]), [1, pos, n, dHead]) as tf.Tensor4D);
    const [q, k, v] = [part(0, heads), part(heads, kvHeads), part(heads + kvHeads, kvHeads)];
    const layout = { heads, kvHeads, dHead };
    const scores = qkvScores(qkv, layout);
    assert.ok(scores, `case ${i}: scores fused`);
    const want = headsScores(q, k)!;
    assert.deepEqual(Array.from(await scores.data()), Array.from(await want.data()), `case ${i}: scores`);
    const pattern = tf.softmax(scores) as tf.Tensor4D;
    const z = qkvContext(pattern, qkv, layout);
    assert.ok(z, `case ${i}: context fused`);
    const wantZ = headsContext(pattern, v)!;
    assert.deepEqual(z.shape, [1, pos, heads, dHead]);
    assert.deepEqual(Array.from(await z.data()), Array.from(await wantZ.data()), `case ${i}: z`);
    // Reading v where k lies would give other numbers: the offsets matter.
    const wrong = headsScores(q, v)!;
    assert.notDeepEqual(Array.from(await scores.data()), Array.from(await wrong.data()), `case ${i}: k, not v`);
    // Under a causal mask, the causal skip from the product's rows gives the bits of the in-place products' skip.
    const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([pos, pos]), -1, 0)), -3.4e38).reshape([1, 1, pos, pos]));
    const causalPattern = tf.tidy(() => tf.softmax(tf.add(scores, mask))) as tf.Tensor4D;
    const skipped = [qkvScores(qkv, layout, true)!, headsScores(q, k, true)!, qkvContext(causalPattern, qkv, layout, true)!, headsContext(causalPattern, v, true)!];
    const [maskedSkipped, maskedWant] = tf.tidy(() => [tf.add(skipped[0], mask), tf.add(skipped[1], mask)]);
    assert.deepEqual(Array.from(await maskedSkipped.data()), Array.from(await maskedWant.data()), `case ${i}: causal scores + mask`);
    assert.deepEqual(Array.from(await skipped[2].data()), Array.from(await skipped[3].data()), `case ${i}: causal z`);
    const wholeZ = qkvContext(causalPattern, qkv, layout)!;
    assert.deepEqual(Array.from(await skipped[2].data()), Array.from(await wholeZ.data()), `case ${i}: the skip keeps z's bits`);
    tf.dispose([qkv, flat, q, k, v, scores, want, pattern, z, wantZ, wrong, mask, causalPattern, ...skipped, maskedSkipped, maskedWant, wholeZ]);
    assert.equal(tf.memory().numTensors, before, `case ${i}: tensors leaked`);
  }
});

test("rotary of q or k read from the q|k|v product equals the rotation of that slice as its own tensor", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const [pos, heads, kvHeads, dHead] = [70, 4, 2, 32];
  const row = (heads + 2 * kvHeads) * dHead;
  const before = tf.memory().numTensors;
  const qkv = tf.tensor3d(randoms(pos * row, 50), [1, pos, row]);
  for (const rot of [dHead, 16]) {
    const cos = tf.tensor4d(randoms(pos * rot, 51), [1, pos, 1, rot]);
    const sin = tf.tensor4d(randoms(pos * rot, 52), [1, pos, 1, rot]);
    for (const [start, n] of [[0, heads], [heads, kvHeads]]) {
      const got = fusedRotaryHalfFromQkv(qkv, start * dHead, n, dHead, cos, sin, rot);
      assert.ok(got, `rot ${rot}, heads from ${start}: fused`);
      const slice = tf.tidy(() => tf.reshape(tf.slice(qkv, [0, 0, start * dHead], [1, pos, n * dHead]), [1, pos, n, dHead])) as tf.Tensor4D;
      const want = fusedRotaryHalf(slice, cos, sin, rot)!;
      assert.deepEqual(got.shape, [1, pos, n, dHead]);
      assert.deepEqual(Array.from(await got.data()), Array.from(await want.data()), `rot ${rot}, heads from ${start}`);
      tf.dispose([got, slice, want]);
    }
    tf.dispose([cos, sin]);
  }
  qkv.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

/** One run of `model` caching `cache`: the logits and the `names` activations, and how many kernels of a name ran. */
async function runCounted(model: Awaited<ReturnType<typeof loadModel>>, ids: number[], names: string[], cache: string[]) {
  const out: Record<string, number[]> = {};
  const info = await tf.profile(async () => {
    const r = model.run([ids], { cache });
    out.logits = Array.from(await r.logits.data());
    for (const n of names) out[n] = Array.from(await r.cache.get(n).data());
    r.dispose();
    return [];
  });
  return { out, count: (name: string) => info.kernels.filter((k) => k.name === name).length };
}

// GPT-2 and OPT-like (no rotary: the scores read q and k in place), Llama (grouped heads, rotary), Qwen2 (biases,
// rotary, grouped heads).
for (const fixture of ["gpt2", "llama", "qwen2"]) test(`${fixture} on webgpu: one q|k|v product per layer, with the numbers of the path that projects them apart`, async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  // Opt-in (capability jointQkvProduct); without the switch no layer takes it.
  const saved = process.env.LMPROBE_WEBGPU_JOINT_QKV;
  process.env.LMPROBE_WEBGPU_JOINT_QKV = "on";
  // The joint product's attention runs as q·kᵀ, softmax and pattern · v; projected apart, a layer whose pattern
  // nobody reads would take the flash kernel (other sums, other bits), so both sides take the three dispatches.
  const savedFlash = process.env.LMPROBE_WEBGPU_FLASH;
  process.env.LMPROBE_WEBGPU_FLASH = "off";
  // The MLPs' input projections also go through the segmented kernel (their activation rides in it): off here, so
  // that the count below is attention's.
  const restore = saveEnv("LMPROBE_WEBGPU_ACTIVATION_EPILOGUE", "LMPROBE_WEBGPU_JOINT_GATE_UP");
  process.env.LMPROBE_WEBGPU_ACTIVATION_EPILOGUE = "off";
  process.env.LMPROBE_WEBGPU_JOINT_GATE_UP = "off";
  t.after(() => {
    restore();
    if (saved === undefined) delete process.env.LMPROBE_WEBGPU_JOINT_QKV;
    else process.env.LMPROBE_WEBGPU_JOINT_QKV = saved;
    if (savedFlash === undefined) delete process.env.LMPROBE_WEBGPU_FLASH;
    else process.env.LMPROBE_WEBGPU_FLASH = savedFlash;
  });
  const model = await loadModel(`test/fixtures/tiny/${fixture}`);
  const ids = Array.from({ length: 80 }, (_, i) => (i * 29 + 3) % 512);
  const names = ["blocks.1.attn.hook_pattern", "blocks.1.attn.hook_z", "blocks.1.hook_resid_post", ...(model.config.rope ? ["blocks.0.attn.hook_rot_k"] : [])];
  const runOnce = async (cache: string[]) => {
    const { out, count } = await runCounted(model, ids, names, cache);
    return { out, segmented: count("LmprobeSegmentedMatMul") };
  };
  const before = tf.memory().numTensors;
  const joint = await runOnce(names);
  // Observing hook_q makes every layer project q, k and v apart (hooks see each activation as it is).
  const apart = await runOnce([...names, ...Array.from({ length: model.config.numLayers }, (_, l) => `blocks.${l}.attn.hook_q`)]);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(joint.segmented, model.config.numLayers, "one q|k|v product per layer");
  assert.equal(apart.segmented, 0);
  process.env.LMPROBE_WEBGPU_JOINT_QKV = "off";
  assert.equal((await runOnce(names)).segmented, 0, "off: not taken");
  for (const key of Object.keys(joint.out)) assert.deepEqual(joint.out[key], apart.out[key], key);
  model.dispose();
});

test("LMPROBE_WEBGPU_JOINT_QKV: by default the one q|k|v product up to 256 rows (where the products split K); on at any number, off never", () => {
  const restore = saveEnv("LMPROBE_WEBGPU_JOINT_QKV");
  try {
    delete process.env.LMPROBE_WEBGPU_JOINT_QKV;
    assert.ok(jointQkvRows(JOINT_QKV_MAX_ROWS) && jointQkvRows(1));
    assert.ok(!jointQkvRows(JOINT_QKV_MAX_ROWS + 1), "past 256 rows: three products (no faster as one at 1024 on an H100)");
    process.env.LMPROBE_WEBGPU_JOINT_QKV = "on";
    assert.ok(jointQkvRows(4096));
    process.env.LMPROBE_WEBGPU_JOINT_QKV = "off";
    assert.ok(!jointQkvRows(128));
    process.env.LMPROBE_WEBGPU_JOINT_QKV = "yes";
    assert.throws(() => jointQkvRows(128), (err: unknown) => err instanceof LmprobeError && /LMPROBE_WEBGPU_JOINT_QKV/.test((err as Error).message));
  } finally {
    restore();
  }
});

// The flash kernel reading q, k and v from the one product's rows (rotated q and k from their own tensors): one
// q|k|v product and one attention dispatch per layer, with the bits of the path that projects them apart (which
// takes the flash kernel on q, k and v tensors of their own).
for (const fixture of ["gpt2", "llama", "qwen2"]) test(`${fixture} on webgpu: one q|k|v product and one flash dispatch per layer, with the logits of q, k and v apart`, async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const restore = saveEnv("LMPROBE_WEBGPU_JOINT_QKV", "LMPROBE_WEBGPU_FLASH", "LMPROBE_WEBGPU_ACTIVATION_EPILOGUE", "LMPROBE_WEBGPU_JOINT_GATE_UP");
  t.after(restore);
  process.env.LMPROBE_WEBGPU_JOINT_QKV = "on";
  process.env.LMPROBE_WEBGPU_FLASH = "on";
  process.env.LMPROBE_WEBGPU_ACTIVATION_EPILOGUE = "off"; // so that every segmented product counted is q|k|v
  process.env.LMPROBE_WEBGPU_JOINT_GATE_UP = "off";
  const model = await loadModel(`test/fixtures/tiny/${fixture}`);
  const ids = Array.from({ length: 80 }, (_, i) => (i * 31 + 5) % 512);
  const names = ["blocks.1.attn.hook_z", "blocks.1.hook_resid_post"];
  const runOnce = async (cache: string[]) => {
    const { out, count } = await runCounted(model, ids, names, cache);
    return { out, segmented: count("LmprobeSegmentedMatMul"), flash: count("LmprobeAttention"), softmax: count("LmprobeScoresSoftmax") };
  };
  const before = tf.memory().numTensors;
  const joint = await runOnce(names);
  const apart = await runOnce([...names, ...Array.from({ length: model.config.numLayers }, (_, l) => `blocks.${l}.attn.hook_q`)]);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  const layers = model.config.numLayers;
  assert.deepEqual([joint.segmented, joint.flash, joint.softmax], [layers, layers, 0], "one product and one attention dispatch per layer");
  assert.deepEqual([apart.segmented, apart.flash], [0, layers], "apart: the flash kernel on q, k and v of their own");
  for (const key of Object.keys(joint.out)) assert.deepEqual(joint.out[key], apart.out[key], key);
  // An observed pattern needs the three dispatches.
  const seen = await runOnce([...names, "blocks.0.attn.hook_pattern"]);
  assert.equal(seen.flash, layers - 1);
  assert.equal(seen.softmax, 1);
  model.dispose();
});

// The three attention dispatches reading the one product's rows (LMPROBE_WEBGPU_JOINT_QKV=on, the flash kernel off)
// keep the causal skip, bit for bit.
for (const fixture of ["gpt2", "llama"]) test(`${fixture} on webgpu: the q|k|v product's three attention dispatches skip what the causal mask leaves out, bit for bit`, async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const restore = saveEnv("LMPROBE_WEBGPU_JOINT_QKV", "LMPROBE_WEBGPU_FLASH", "LMPROBE_WEBGPU_CAUSAL_SKIP");
  t.after(restore);
  process.env.LMPROBE_WEBGPU_JOINT_QKV = "on";
  process.env.LMPROBE_WEBGPU_FLASH = "off";
  const model = await loadModel(`test/fixtures/tiny/${fixture}`);
  const ids = Array.from({ length: 128 }, (_, i) => (i * 37 + 1) % 512);
  const names = ["blocks.1.attn.hook_z", "blocks.1.hook_resid_post"];
  const skips = countDispatches((key) => key.includes("_causal"));
  const run = async (skip: "on" | "off") => {
    process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = skip;
    const before = skips.count();
    const { out, count } = await runCounted(model, ids, names, names);
    return { out, skipped: skips.count() - before, segmented: count("LmprobeSegmentedMatMul") };
  };
  const on = await run("on");
  const off = await run("off");
  skips.stop();
  assert.ok(on.segmented >= model.config.numLayers, "the joint q|k|v product ran");
  // The scores skip in every layer; pattern · v reads the product's rows (and skips) where heads are ≥ 64 wide, the
  // tiny fixtures' 16-wide ones taking the head-major product instead.
  const perLayer = model.config.headDim >= 64 ? 2 : 1;
  assert.equal(on.skipped, perLayer * model.config.numLayers, "the causal skip in every layer");
  assert.equal(off.skipped, 0);
  for (const key of Object.keys(on.out)) assert.deepEqual(on.out[key], off.out[key], key);
  model.dispose();
});
