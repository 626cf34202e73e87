// Attention's products read in the projections' [pos, head, dHead] layout on webgpu (headsScores, headsContext):
// the same bits as the transposed, head-major products, and the engine runs no transposes for one sequence
// without a KV cache. On a WebGPU adapter only (elsewhere skipped); off webgpu the functions return null.
// These are the three-dispatch path's tests (q·kᵀ, softmax, pattern · v), which the engine takes where a hook reads
// the pattern; where nothing does it takes the flash kernel (flash-attention.test.ts), switched off here.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../../src/backend";
import { fusedScoresSoftmax, headsContext, headsScores } from "../../src/backend/kernels";
import { loadModel } from "../../src/load";
import { countDispatches, webgpuOrSkip } from "./webgpu-helpers";

process.env.LMPROBE_WEBGPU_FLASH = "off";

function randoms(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

test("headsScores / headsContext are null off webgpu", async () => {
  await ensureBackend();
  if (tf.getBackend() === "webgpu") return;
  const x = tf.ones([1, 64, 2, 16]) as tf.Tensor4D;
  assert.equal(headsScores(x, x), null);
  x.dispose();
});

test("headsScores and headsContext give the head-major products' bits without transposing", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  for (const [i, [pos, heads, dHead]] of [[96, 3, 64], [128, 12, 64], [64, 2, 68]].entries()) {
    const before = tf.memory().numTensors;
    const q = tf.tensor4d(randoms(pos * heads * dHead, 1 + i), [1, pos, heads, dHead]);
    const k = tf.tensor4d(randoms(pos * heads * dHead, 2 + i), [1, pos, heads, dHead]);
    const v = tf.tensor4d(randoms(pos * heads * dHead, 3 + i), [1, pos, heads, dHead]);
    const headMajor = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1, 3]);
    const scores = headsScores(q, k);
    assert.ok(scores, `case ${i}: scores fused`);
    const wantScores = tf.tidy(() => tf.matMul(headMajor(q), headMajor(k), false, true));
    assert.deepEqual(scores.shape, [1, heads, pos, pos]);
    assert.deepEqual(Array.from(await scores.data()), Array.from(await wantScores.data()), `case ${i}: scores`);
    const pattern = tf.softmax(scores) as tf.Tensor4D;
    const z = headsContext(pattern, v);
    assert.ok(z, `case ${i}: context fused`);
    const wantZ = tf.tidy(() => headMajor(tf.matMul(pattern, headMajor(v))));
    assert.deepEqual(z.shape, [1, pos, heads, dHead]);
    const got = await z.data();
    assert.ok(got.some((x) => Math.abs(x) > 1e-3), `case ${i}: z is not all zeros`);
    assert.deepEqual(Array.from(got), Array.from(await wantZ.data()), `case ${i}: z`);
    tf.dispose([q, k, v, scores, wantScores, pattern, z, wantZ]);
    assert.equal(tf.memory().numTensors, before, `case ${i}: tensors leaked`);
  }
  // Two sequences, uneven head groups or too few positions: left to the general path.
  const two = tf.ones([2, 64, 2, 16]) as tf.Tensor4D;
  const few = tf.ones([1, 8, 2, 16]) as tf.Tensor4D;
  const three = tf.ones([1, 64, 3, 16]) as tf.Tensor4D;
  assert.equal(headsScores(two, two), null);
  assert.equal(headsScores(few, few), null);
  const one = tf.ones([1, 64, 2, 16]) as tf.Tensor4D;
  assert.equal(headsScores(three, one), null);
  // dHead 16 is too narrow an output for the tiled kernel: scores fuse, the context product does not.
  const scores = headsScores(one, one)!;
  assert.ok(scores);
  assert.equal(headsContext(scores, one), null);
  tf.dispose([two, few, three, one, scores]);
});

test("grouped key/value heads: query head h reads kv head h / group, with the grouped head-major products' bits", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  for (const [i, [pos, heads, kvHeads, dHead]] of [[96, 4, 2, 64], [128, 8, 2, 64], [64, 6, 1, 64]].entries()) {
    const before = tf.memory().numTensors;
    const group = heads / kvHeads;
    const q = tf.tensor4d(randoms(pos * heads * dHead, 11 + i), [1, pos, heads, dHead]);
    const k = tf.tensor4d(randoms(pos * kvHeads * dHead, 12 + i), [1, pos, kvHeads, dHead]);
    const v = tf.tensor4d(randoms(pos * kvHeads * dHead, 13 + i), [1, pos, kvHeads, dHead]);
    const headMajor = (x: tf.Tensor) => tf.transpose(x, [0, 2, 1, 3]);
    const scores = headsScores(q, k);
    assert.ok(scores, `case ${i}: scores fused`);
    assert.deepEqual(scores.shape, [1, heads, pos, pos]);
    // The reference: each kv head's query group folded into its rows (attention.ts's general path).
    const wantScores = tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(headMajor(q), [1, kvHeads, group * pos, dHead]), headMajor(k), false, true), [1, heads, pos, pos]));
    const got = await scores.data();
    assert.deepEqual(Array.from(got), Array.from(await wantScores.data()), `case ${i}: scores`);
    // Not the ungrouped pairing: head 1 against kv head 1 (wrong for group > 1) differs from what was computed.
    if (group > 1 && kvHeads > 1) {
      const wrong = tf.tidy(() => tf.matMul(tf.slice(headMajor(q), [0, 1, 0, 0], [1, 1, pos, dHead]), tf.slice(headMajor(k), [0, 1, 0, 0], [1, 1, pos, dHead]), false, true));
      const head1 = got.slice(pos * pos, 2 * pos * pos);
      assert.notDeepEqual(Array.from(head1), Array.from(await wrong.data()), `case ${i}: head 1 reads kv head 0`);
      wrong.dispose();
    }
    const pattern = tf.softmax(scores) as tf.Tensor4D;
    const z = headsContext(pattern, v);
    assert.ok(z, `case ${i}: context fused`);
    assert.deepEqual(z.shape, [1, pos, heads, dHead]);
    const wantZ = tf.tidy(() => headMajor(tf.reshape(tf.matMul(tf.reshape(pattern, [1, kvHeads, group * pos, pos]), headMajor(v)), [1, heads, pos, dHead])));
    assert.deepEqual(Array.from(await z.data()), Array.from(await wantZ.data()), `case ${i}: z`);
    tf.dispose([q, k, v, scores, wantScores, pattern, z, wantZ]);
    assert.equal(tf.memory().numTensors, before, `case ${i}: tensors leaked`);
  }
});

// GPT-2 (as many key/value heads as query heads) and Llama (grouped key/value heads, rotary).
for (const fixture of ["gpt2", "llama"]) test(`${fixture} on webgpu: one sequence runs attention with no transposes and the batched path's numbers`, async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const model = await loadModel(`test/fixtures/tiny/${fixture}`);
  const ids = Array.from({ length: 80 }, (_, i) => (i * 29 + 3) % 512);
  const names = ["blocks.1.attn.hook_pattern", "blocks.1.attn.hook_z"];
  const runOnce = async (rows: number[][]) => {
    const out: Record<string, Float32Array> = {};
    const info = await tf.profile(async () => {
      const r = model.run(rows, { cache: names });
      const firstRow = (x: tf.Tensor) => tf.tidy(() => x.slice(0, 1));
      const parts = [firstRow(r.logits), ...names.map((n) => firstRow(r.cache.get(n)))];
      out.logits = (await parts[0].data()) as Float32Array;
      for (const [j, n] of names.entries()) out[n] = (await parts[j + 1].data()) as Float32Array;
      tf.dispose(parts);
      r.dispose();
      return [];
    });
    return { out, transposes: info.kernels.filter((k) => k.name === "Transpose").length };
  };
  const before = tf.memory().numTensors;
  const single = await runOnce([ids]);
  // Two identical sequences take the general (head-major) path; each row's numbers are the same products.
  const batched = await runOnce([ids, ids]);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  // Scores always read q and k in place; pattern·v does too once dHead reaches the tiled kernel's 64 columns
  // (GPT-2 small); below that (this fixture's 16) v and z are still transposed.
  assert.equal(single.transposes, model.config.headDim >= 64 ? 0 : 2 * model.config.numLayers);
  assert.equal(batched.transposes, 4 * model.config.numLayers);
  for (const key of Object.keys(single.out)) assert.deepEqual(Array.from(single.out[key]), Array.from(batched.out[key]), key);
  model.dispose();
});

test("the causal skip: scores hold zeros only where the mask hides every key of a block, and pattern · v keeps its bits", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  // [pos, keys]: this run's queries are the last `pos` of `keys` (past = keys − pos); grouped heads in the second.
  for (const [i, [pos, keys, heads, kvHeads, dHead]] of [[200, 200, 3, 3, 64], [160, 224, 4, 2, 64]].entries()) {
    const past = keys - pos;
    const q = tf.tensor4d(randoms(pos * heads * dHead, 11 + i), [1, pos, heads, dHead]);
    const k = tf.tensor4d(randoms(keys * kvHeads * dHead, 12 + i), [1, keys, kvHeads, dHead]);
    const v = tf.tensor4d(randoms(keys * kvHeads * dHead, 13 + i), [1, keys, kvHeads, dHead]);
    const full = headsScores(q, k)!;
    const skipped = headsScores(q, k, true)!;
    const [a, b] = [await full.data(), await skipped.data()];
    let zeroed = 0;
    for (let h = 0; h < heads; h++) {
      for (let r = 0; r < pos; r++) {
        for (let c = 0; c < keys; c++) {
          const at = (h * pos + r) * keys + c;
          if (b[at] === a[at]) continue;
          // Only entries after the row's last visible key may differ, and then only as zeros.
          assert.ok(c > r + past && b[at] === 0, `case ${i}: head ${h}, row ${r}, key ${c}: ${b[at]} against ${a[at]}`);
          zeroed++;
        }
      }
    }
    assert.ok(zeroed > 0, `case ${i}: some blocks were skipped`);
    // The pattern of a causal mask (exact zeros after each row's key), as the fused softmax leaves it.
    const mask = tf.tidy(() => {
      const rows = tf.reshape(tf.range(past, past + pos, 1, "int32"), [pos, 1]);
      const cols = tf.reshape(tf.range(0, keys, 1, "int32"), [1, keys]);
      return tf.reshape(tf.where(tf.greater(cols, rows), tf.fill([pos, keys], -3.4028234663852886e38), tf.zeros([pos, keys])), [1, 1, pos, keys]);
    });
    // The fused softmax of the skipped scores gives the pattern of the whole scores' softmax (the mask absorbs the
    // zeros left in the skipped blocks), with and without a softcap.
    for (const softcap of [null, 30]) {
      const whole = fusedScoresSoftmax(full, mask as tf.Tensor4D, 0.125, softcap)!;
      const causal = fusedScoresSoftmax(skipped, mask as tf.Tensor4D, 0.125, softcap)!;
      assert.deepEqual(Array.from(await causal.data()), Array.from(await whole.data()), `case ${i}: softmax, softcap ${softcap}`);
      tf.dispose([whole, causal]);
    }
    const pattern = tf.tidy(() => tf.softmax(tf.add(full, mask))) as tf.Tensor4D;
    const z = headsContext(pattern, v)!;
    const zSkipped = headsContext(pattern, v, true)!;
    assert.deepEqual(Array.from(await zSkipped.data()), Array.from(await z.data()), `case ${i}: pattern · v`);
    tf.dispose([q, k, v, full, skipped, mask, pattern, z, zSkipped]);
  }
  const saved = process.env.LMPROBE_WEBGPU_CAUSAL_SKIP;
  process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = "sometimes";
  const x = tf.ones([1, 64, 2, 16]) as tf.Tensor4D;
  assert.throws(() => headsScores(x, x, true), /LMPROBE_WEBGPU_CAUSAL_SKIP/);
  if (saved === undefined) delete process.env.LMPROBE_WEBGPU_CAUSAL_SKIP;
  else process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = saved;
  x.dispose();
});

test("models on webgpu: the causal skip runs and leaves the logits, residual stream and pattern bit for bit", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const skips = countDispatches((key) => key.includes("_causal"));
  const saved = process.env.LMPROBE_WEBGPU_CAUSAL_SKIP;
  try {
    // Grouped heads (llama), a sliding window and softcaps (gemma2), biases and no rotary (gpt2), ALiBi (bloom).
    for (const name of ["tiny/llama", "tiny/gemma2", "tiny/gpt2", "generated/bloom"]) {
      const model = await loadModel(`test/fixtures/${name}`);
      const ids = Array.from({ length: 128 }, (_, i) => 1 + ((i * 37) % (model.config.vocabSize - 1))); // the fixtures' whole context
      const outputs = async (skip: string) => {
        process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = skip;
        const r = model.run([ids], { cache: ["resid_pre", "resid_post"] });
        const values = { logits: Array.from(await r.logits.data()), resid: Array.from(await r.cache.accumulatedResid().data()) };
        r.dispose();
        return values;
      };
      const before = skips.count();
      const on = await outputs("on");
      assert.ok(skips.count() > before, `${name}: the causal skip ran`);
      const after = skips.count();
      const off = await outputs("off");
      assert.equal(skips.count(), after, `${name}: off means no skip`);
      assert.deepEqual(on.logits, off.logits, `${name}: logits`);
      assert.deepEqual(on.resid, off.resid, `${name}: residual stream`);
      // An observed pattern: the scores still skip, pattern · v does not (a hook could have replaced it).
      process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = "on";
      const observed = model.run([ids], { cache: ["pattern"] });
      const skippedPattern = Array.from(await observed.cache.stack("pattern").data());
      observed.dispose();
      process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = "off";
      const plain = model.run([ids], { cache: ["pattern"] });
      assert.deepEqual(skippedPattern, Array.from(await plain.cache.stack("pattern").data()), `${name}: pattern`);
      plain.dispose();
      model.dispose();
    }
  } finally {
    skips.stop();
    if (saved === undefined) delete process.env.LMPROBE_WEBGPU_CAUSAL_SKIP;
    else process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = saved;
  }
});
