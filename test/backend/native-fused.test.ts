// cpu-native's fused attention (one onnxruntime call from q to z), its rotary pass and its copy kernels (gather,
// concat) against tfjs-backend-cpu's composed ops on random inputs of odd shapes; and the demo model on cpu-native
// with the fused kernels against the same model with them switched off (LMPROBE_WEBGPU_FUSED=off composes the
// tfjs ops), with and without hooks on the intermediates the fused kernel skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { registerNativeBackend } from "../../src/backend/native";
import { fusedAttention, fusedMlp, fusedRotaryHalf } from "../../src/backend/capabilities";
import { applyActivation } from "../../src/model/components/activations";
import { applyRotary, rotaryTables } from "../../src/model/components/rotary";
import { seededRandom } from "../../src/probe/random";
import { loadModel } from "../../src/load";

registerNativeBackend();
const random = seededRandom(11);
const values = (n: number, scale = 2) => Float32Array.from({ length: n }, () => (random() - 0.5) * scale);

/** The composed attention of model/components/attention.ts (grouped heads, scale, softcap, mask, softmax, · v). */
function composedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor4D, scale: number, softcap: number | null): tf.Tensor {
  return tf.tidy(() => {
    const [b, pos, heads, dHead] = q.shape;
    const [, kvHeads, keys] = k.shape;
    const group = heads / kvHeads;
    const qGrouped = tf.transpose(q, [0, 2, 1, 3]).reshape([b, kvHeads, group * pos, dHead]);
    let scores: tf.Tensor = tf.mul(tf.matMul(qGrouped, k, false, true).reshape([b, heads, pos, keys]), scale);
    if (softcap !== null) scores = tf.mul(tf.tanh(tf.div(scores, softcap)), softcap);
    const pattern = tf.softmax(tf.add(scores, mask));
    const z = tf.matMul(pattern.reshape([b, kvHeads, group * pos, keys]), v).reshape([b, heads, pos, v.shape[3]]);
    return tf.transpose(z, [0, 2, 1, 3]);
  });
}

function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(a[i])));
  return worst;
}

test("fused attention equals the composed ops: grouped heads, past keys, narrower values, softcap, masked keys", async () => {
  const cases = [
    { b: 1, heads: 8, kv: 4, pos: 13, keys: 13, dh: 32, dv: 32, softcap: null },
    { b: 2, heads: 6, kv: 2, pos: 5, keys: 9, dh: 7, dv: 3, softcap: 30 },
    { b: 1, heads: 3, kv: 3, pos: 1, keys: 11, dh: 5, dv: 5, softcap: null },
    { b: 3, heads: 4, kv: 1, pos: 6, keys: 6, dh: 9, dv: 4, softcap: 5 },
  ];
  for (const c of cases) {
    const shapes = { q: [c.b, c.pos, c.heads, c.dh], k: [c.b, c.kv, c.keys, c.dh], v: [c.b, c.kv, c.keys, c.dv], mask: [c.b, 1, c.pos, c.keys] };
    const data = { q: values(tf.util.sizeFromShape(shapes.q), 4), k: values(tf.util.sizeFromShape(shapes.k), 4), v: values(tf.util.sizeFromShape(shapes.v)) };
    // A causal mask over the past and present keys, one key masked with −Infinity, the rest with a large negative.
    const mask = new Float32Array(tf.util.sizeFromShape(shapes.mask));
    for (let i = 0; i < mask.length; i++) {
      const key = i % c.keys;
      const query = Math.floor(i / c.keys) % c.pos;
      if (key > c.keys - c.pos + query) mask[i] = key % 2 === 0 ? -Infinity : -1e9;
    }
    const results: Record<string, Float32Array> = {};
    for (const backend of ["cpu", "cpu-native"]) {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const [q, k, v, m] = [tf.tensor4d(data.q, shapes.q as never), tf.tensor4d(data.k, shapes.k as never), tf.tensor4d(data.v, shapes.v as never), tf.tensor4d(mask, shapes.mask as never)];
      const fused = fusedAttention(q, k, v, m, 0.3, c.softcap);
      assert.equal(fused === null, backend === "cpu", `the fused kernel exists on cpu-native only (${backend})`);
      const y = fused ?? composedAttention(q, k, v, m, 0.3, c.softcap);
      assert.deepEqual(y.shape, [c.b, c.pos, c.heads, c.dv]);
      results[backend] = y.dataSync() as Float32Array;
      tf.dispose([q, k, v, m, y]);
      assert.equal(tf.memory().numTensors, before);
    }
    const worst = worstRelative(results.cpu, results["cpu-native"]);
    assert.ok(worst < 1e-5, `${JSON.stringify(c)}: worst relative difference ${worst}`);
  }
  // Shapes it does not take (a per-head mask, as ALiBi makes) fall back to the caller's composition.
  await tf.setBackend("cpu-native");
  tf.tidy(() => assert.equal(fusedAttention(tf.zeros([1, 2, 4, 3]) as tf.Tensor4D, tf.zeros([1, 4, 2, 3]) as tf.Tensor4D, tf.zeros([1, 4, 2, 3]) as tf.Tensor4D, tf.zeros([1, 4, 2, 2]) as tf.Tensor4D, 1, null), null));
});

test("the fused MLP equals the composed products, biases and activation: gated and not, every fused activation", async () => {
  for (const act of ["silu", "gelu_tanh", "gelu_quick", "relu"] as const) {
    for (const [gated, withBias] of [[true, false], [false, true], [true, true]]) {
      const [rows, d, hidden] = [7, 12, 19];
      const data = { x: values(rows * d, 4), gate: values(d * hidden), up: values(d * hidden), down: values(hidden * d), bg: values(hidden), bi: values(hidden), bo: values(d) };
      const results: Record<string, Float32Array> = {};
      for (const backend of ["cpu", "cpu-native"]) {
        await tf.setBackend(backend);
        const before = tf.memory().numTensors;
        const x = tf.tensor2d(data.x, [rows, d]);
        const w = {
          gated, act,
          W_gate: gated ? tf.tensor2d(data.gate, [d, hidden]) : null,
          b_gate: gated && withBias ? tf.tensor1d(data.bg) : null,
          W_in: tf.tensor2d(data.up, [d, hidden]),
          b_in: withBias ? tf.tensor1d(data.bi) : null,
          W_out: tf.tensor2d(data.down, [hidden, d]),
          b_out: withBias ? tf.tensor1d(data.bo) : null,
        };
        const fused = fusedMlp(x, w);
        assert.equal(fused === null, backend === "cpu", `the fused kernel exists on cpu-native only (${backend})`);
        const y = fused ?? tf.tidy(() => {
          const lin = (a: tf.Tensor, W: tf.Tensor2D, b: tf.Tensor1D | null) => (b ? tf.add(tf.matMul(a, W), b) : tf.matMul(a, W));
          const post = gated ? tf.mul(applyActivation(lin(x, w.W_gate!, w.b_gate), act), lin(x, w.W_in, w.b_in)) : applyActivation(lin(x, w.W_in, w.b_in), act);
          return lin(post, w.W_out, w.b_out);
        });
        assert.deepEqual(y.shape, [rows, d]);
        results[backend] = y.dataSync() as Float32Array;
        tf.dispose([x, y, ...Object.values(w).filter((t): t is tf.Tensor => t instanceof tf.Tensor)]);
        assert.equal(tf.memory().numTensors, before);
      }
      const worst = worstRelative(results.cpu, results["cpu-native"]);
      assert.ok(worst < 1e-5, `${act}, gated ${gated}, bias ${withBias}: worst relative difference ${worst}`);
    }
  }
  // Exact GELU (erf) is not fused: the caller composes it.
  await tf.setBackend("cpu-native");
  tf.tidy(() => assert.equal(fusedMlp(tf.zeros([2, 3]) as tf.Tensor2D, { gated: false, act: "gelu", W_in: tf.zeros([3, 4]) as tf.Tensor2D, b_in: null, W_out: tf.zeros([4, 3]) as tf.Tensor2D, b_out: null }), null));
});

test("the rotary pass equals the composed products and sum exactly, partial rotary included", async () => {
  for (const [heads, dHead, rotaryDim] of [[3, 10, 10], [2, 12, 8], [5, 6, 2]]) {
    const settings = { rotaryDim, invFreq: Float32Array.from({ length: rotaryDim / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / rotaryDim)), attentionScaling: 1, style: "half" as const };
    const positions = [[0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 7, 8, 9]];
    const x = values(2 * 7 * heads * dHead, 6);
    const results: Record<string, Float32Array> = {};
    for (const backend of ["cpu", "cpu-native"]) {
      await tf.setBackend(backend);
      const tables = rotaryTables(settings, positions, 10);
      const input = tf.tensor4d(x, [2, 7, heads, dHead]);
      assert.equal(fusedRotaryHalf(input, tables.cos, tables.sin, rotaryDim) === null, backend === "cpu");
      const y = applyRotary(input, tables, settings);
      results[backend] = y.dataSync() as Float32Array;
      tf.dispose([input, y, tables.cos, tables.sin]);
    }
    assert.deepEqual(Array.from(results["cpu-native"]), Array.from(results.cpu), `heads ${heads}, dHead ${dHead}, rotary ${rotaryDim}`);
  }
});

test("gather (batched too) and concat equal tfjs-backend-cpu's on every axis and dtype; out-of-range indices throw as there", async () => {
  const cases: Array<{ shape: number[]; axis: number; indices: number[]; indexShape: number[]; batchDims: number; dtype: "float32" | "int32" | "bool" }> = [];
  for (let i = 0; i < 60; i++) {
    const rank = 1 + Math.floor(random() * 4);
    const shape = Array.from({ length: rank }, () => 1 + Math.floor(random() * 5));
    const axis = Math.floor(random() * rank) - (i % 2 === 0 ? rank : 0); // negative axes too
    const dim = shape[(axis + rank) % rank];
    // Every third case with rank ≥ 2 and a positive axis gathers per row of the first axis (batchDims 1).
    const batchDims = i % 3 === 0 && rank >= 2 && (axis + rank) % rank >= 1 ? 1 : 0;
    const count = 1 + Math.floor(random() * 6);
    const indexShape = batchDims ? [shape[0], count] : count % 2 === 0 ? [2, count / 2] : [count];
    const indices = Array.from({ length: tf.util.sizeFromShape(indexShape) }, () => Math.floor(random() * dim));
    cases.push({ shape, axis, indices: indices.slice(0, batchDims ? indices.length : count), indexShape, batchDims, dtype: (["float32", "int32", "bool"] as const)[i % 3] });
  }
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return cases.map((c) => {
      const n = tf.util.sizeFromShape(c.shape);
      const raw = Array.from({ length: n }, (_, i) => (c.dtype === "bool" ? i % 3 === 0 : c.dtype === "int32" ? i * 7 - 11 : i * 0.5 - 3));
      const x = tf.tensor(raw as number[], c.shape, c.dtype);
      const idx = tf.tensor(c.indices, c.indexShape, "int32");
      const gathered = tf.gather(x, idx, c.axis, c.batchDims);
      // Concat along the axis of x, the rows a flat gather picked, and x again (runs of unequal lengths).
      const flat = tf.tensor1d(c.indices.slice(0, c.batchDims ? 3 : c.indices.length), "int32");
      const picked = tf.gather(x, flat, c.axis);
      const joined = tf.concat([x, picked, x], c.axis);
      const out = { gathered: [gathered.shape, Array.from(gathered.dataSync())], joined: [joined.shape, Array.from(joined.dataSync())] };
      tf.dispose([x, idx, gathered, flat, picked, joined]);
      return out;
    });
  };
  const reference = await run("cpu");
  const native = await run("cpu-native");
  native.forEach((r, i) => assert.deepEqual(r, reference[i], JSON.stringify(cases[i])));
  await tf.setBackend("cpu-native");
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  assert.throws(() => tf.gather(x, tf.tensor1d([0, 2], "int32")), /GatherV2: the index value 2 is not in \[0, 1\]/);
  x.dispose();
});

/** Runs the demo model on cpu-native with the fused kernels on or off; returns the logits, cached values and kernels. */
async function demoRun(model: Awaited<ReturnType<typeof loadModel>>, ids: number[], fused: boolean, cache: string[], hooks: Record<string, (t: tf.Tensor) => tf.Tensor | void> = {}) {
  if (fused) delete process.env.LMPROBE_WEBGPU_FUSED;
  else process.env.LMPROBE_WEBGPU_FUSED = "off";
  try {
    const values: Record<string, Float32Array> = {};
    const info = await tf.profile(async () => {
      const cached = new Set(cache);
      const all = { ...hooks, ...Object.fromEntries(cache.filter((n) => !(n in hooks)).map((n) => [n, (t: tf.Tensor) => void (values[n] = t.dataSync() as Float32Array)])) };
      const r = model.runWithHooks([ids], all);
      values.logits = (await r.logits.data()) as Float32Array;
      r.dispose();
      assert.ok([...cached].every((n) => values[n]), "every observed hook fired");
      return [];
    });
    return { values, kernels: info.kernels.map((k) => k.name) };
  } finally {
    delete process.env.LMPROBE_WEBGPU_FUSED;
  }
}

test("the demo model on cpu-native: fused and composed attention agree, hooks on skipped intermediates still fire with their values", async () => {
  await tf.setBackend("cpu-native");
  const model = await loadModel("demo");
  try {
    const L = model.config.numLayers;
    const ids = Array.from({ length: 19 }, (_, i) => 3 + ((i * 53) % 900));
    const before = tf.memory().numTensors;
    // hook_resid_mid observed in every block keeps each block op by op (not one call, model/whole-block.ts), so
    // that the per-op kernels counted here run.
    const opByOp = Array.from({ length: L }, (_, l) => `blocks.${l}.hook_resid_mid`);
    const plain = ["blocks.0.attn.hook_z", "blocks.2.attn.hook_rot_q", "blocks.3.hook_resid_post", ...opByOp];
    const a = await demoRun(model, ids, true, plain);
    const b = await demoRun(model, ids, false, plain);
    for (const key of Object.keys(b.values)) assert.ok(worstRelative(b.values[key], a.values[key]) < 1e-5, `${key}: fused and composed differ by ${worstRelative(b.values[key], a.values[key])}`);
    const count = (names: string[], kernel: string) => names.filter((n) => n === kernel).length;
    assert.equal(count(a.kernels, "LmprobeAttention"), L, "every layer's attention is one kernel when nothing reads its scores or pattern");
    assert.equal(count(a.kernels, "LmprobeRotaryHalf"), 2 * L, "queries and keys rotate in one pass each");
    assert.equal(count(a.kernels, "LmprobeMlp"), L, "every layer's MLP is one kernel when nothing reads its hidden activations");
    assert.equal(count(b.kernels, "LmprobeAttention") + count(b.kernels, "LmprobeRotaryHalf") + count(b.kernels, "LmprobeMlp"), 0, "LMPROBE_WEBGPU_FUSED=off composes the ops");

    // Observing block 1's pattern and scores: that block runs composed, and the hooks see the composed values.
    const observed = ["blocks.1.attn.hook_pattern", "blocks.1.attn.hook_attn_scores", "blocks.1.attn.hook_z", "blocks.2.mlp.hook_post", "blocks.2.hook_mlp_out", ...opByOp];
    const c = await demoRun(model, ids, true, observed);
    const d = await demoRun(model, ids, false, observed);
    for (const key of Object.keys(d.values)) assert.ok(worstRelative(d.values[key], c.values[key]) < 1e-5, `${key} with observed pattern`);
    assert.equal(count(c.kernels, "LmprobeAttention"), L - 1, "the observed block composes its attention");
    assert.equal(count(c.kernels, "LmprobeMlp"), L - 1, "the observed MLP is composed");

    // A hook that replaces the rotated queries before attention: the fused kernel reads the replaced tensor.
    const replace = { "blocks.0.attn.hook_rot_q": (t: tf.Tensor) => tf.mul(t, 0.5) };
    const e = await demoRun(model, ids, true, ["blocks.0.attn.hook_z"], replace);
    const f = await demoRun(model, ids, false, ["blocks.0.attn.hook_z"], replace);
    assert.ok(worstRelative(f.values["blocks.0.attn.hook_z"], e.values["blocks.0.attn.hook_z"]) < 1e-5, "replaced queries reach the fused kernel");
    assert.ok(worstRelative(a.values["blocks.0.attn.hook_z"], e.values["blocks.0.attn.hook_z"]) > 1e-3, "and they change z");
    assert.equal(tf.memory().numTensors, before);
  } finally {
    model.dispose();
  }
});

test("isFinite equals tfjs-backend-cpu's: NaN, ±Infinity, ±0, subnormals and the largest floats", async () => {
  const x = [0, -0, 1, NaN, Infinity, -Infinity, 1e-45, -3.4028234663852886e38, 3.4028234663852886e38, 2.5];
  const out: Record<string, number[]> = {};
  for (const backend of ["cpu", "cpu-native"]) {
    await tf.setBackend(backend);
    const t = tf.tensor2d(x, [2, 5]);
    const y = tf.isFinite(t);
    assert.equal(y.dtype, "bool");
    out[backend] = Array.from(y.dataSync());
    tf.dispose([t, y]);
  }
  assert.deepEqual(out["cpu-native"], out.cpu);
  assert.deepEqual(out.cpu, [1, 1, 1, 0, 0, 0, 1, 1, 1, 1]);
});

test("one thread or all: the demo model's logits and residual stream agree to float32 rounding", async () => {
  const { nativeSingleThread } = await import("../../src/backend/native/runtime");
  await tf.setBackend("cpu-native");
  const model = await loadModel("demo");
  const saved = nativeSingleThread.belowWork;
  try {
    const ids = Array.from({ length: 40 }, (_, i) => 3 + ((i * 31) % 900));
    const read = () => {
      const r = model.run([ids], { cache: ["blocks.2.hook_resid_post"] });
      const out = [Array.from(r.logits.dataSync()), Array.from(r.cache.get("blocks.2.hook_resid_post").dataSync())];
      r.dispose();
      return out;
    };
    nativeSingleThread.belowWork = 0; // every call on every thread
    const all = read();
    nativeSingleThread.belowWork = Infinity; // every call on one thread
    const one = read();
    // MLAS may block a product's sum differently for another thread count: the last bits can move, no more.
    one.forEach((values, i) => assert.ok(worstRelative(all[i], values) < 1e-5, `worst relative difference ${worstRelative(all[i], values)}`));
  } finally {
    nativeSingleThread.belowWork = saved;
    model.dispose();
  }
});
