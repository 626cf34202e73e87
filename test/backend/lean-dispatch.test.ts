// The lean webgpu dispatch path: the uniform layout (plain logic, runs everywhere) and, where a WebGPU adapter
// exists, chains of ops of every rank giving the cpu backend's numbers through the uniform arena (overflowing
// it within one batch) and through cached bind groups that rebind the same buffers with new contents.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { uniformLayout, leanDispatchStats } from "../../src/backend/lean-dispatch";
import { probeWebgpu } from "../../src/backend/probe-webgpu";
import { setBackend } from "../../src/backend";

const f = (n: number) => ({ type: "int32" as const, data: Array.from({ length: n }, (_, i) => i) });

test("uniformLayout follows WGSL alignment as tfjs-webgpu declares its uniform struct", () => {
  // f32, f32, vec3, vec2, array<i32,5>, vec4, i32 → 0, 4, 16, 32, 48, 80 (16 after a 5-array), 96; size 112.
  assert.deepEqual(uniformLayout([f(1), f(1), f(3), f(2), f(5), f(4), f(1)]), { offsets: [0, 4, 16, 32, 48, 80, 96], size: 112 });
  // A scalar after a 6-array is 16-aligned too; a struct of scalars rounds to 4.
  assert.deepEqual(uniformLayout([f(6), f(1)]), { offsets: [0, 32], size: 48 });
  assert.deepEqual(uniformLayout([f(1), f(1), f(1)]), { offsets: [0, 4, 8], size: 12 });
  // An empty field counts as one element (tfjs writes 1 there).
  assert.deepEqual(uniformLayout([f(1), f(0), f(2)]), { offsets: [0, 4, 8], size: 16 });
});

/** Ops of ranks 1–6 (transposes, slices, broadcasts, reductions, matmuls): ~12 dispatches per round. */
function chain(x: tf.Tensor, rounds: number): tf.Tensor {
  return tf.tidy(() => {
    let y = x; // [2, 3, 4, 5, 6, 2]
    for (let r = 0; r < rounds; r++) {
      const t6 = tf.transpose(y, [5, 4, 3, 2, 1, 0]);
      const s = tf.slice(t6, [0, 1, 0, 0, 0, 0], [-1, 4, -1, -1, -1, -1]);
      const m = tf.reshape(tf.mean(tf.reshape(tf.mul(s, s), [2, 4, 120]), [1]), [2, 5, 4, 3, 2]); // (tfjs-webgpu reduces only up to 4-D)
      const mm = tf.matMul(tf.reshape(y, [24, 60]), tf.reshape(tf.sin(y), [60, 24]));
      const b = tf.add(tf.reshape(tf.transpose(m, [4, 3, 2, 1, 0]), [2, 3, 4, 5, 2]), 0.5); // (a 5-D + 1-D add fails in tfjs-webgpu 4.22)
      const z = tf.sum(tf.reshape(mm, [2, 3, 4, 24]), [3]);
      y = tf.add(tf.mul(y, 0.9), tf.mul(tf.reshape(tf.mean(tf.reshape(b, [120, 2]), [1]), [2, 3, 4, 5, 1, 1]), tf.reshape(tf.tanh(z), [2, 3, 4, 1, 1, 1])));
      y = tf.div(y, tf.add(tf.max(tf.abs(y)), 1));
    }
    return y;
  });
}

async function valuesOn(backend: "cpu" | "webgpu", seed: number, rounds: number): Promise<Float32Array> {
  if (backend === "cpu") {
    tf.env().set("PROD", true);
    await tf.setBackend("cpu");
  } else await setBackend("webgpu");
  const x = tf.randomUniform([2, 3, 4, 5, 6, 2], -1, 1, "float32", seed);
  const y = chain(x, rounds);
  const v = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return v;
}

test("ops of every rank give the cpu backend's numbers through the arena and cached bind groups", async (t) => {
  const probe = await probeWebgpu();
  if (!probe.available && !probe.usableOnRequest) return t.skip(`no WebGPU adapter here: ${probe.reason}`);
  await setBackend("webgpu"); // registers tfjs-webgpu's flags
  const batch = tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
  try {
    for (const [seed, rounds, batchSize] of [[1, 4, 15], [2, 4, 15], [3, 30, 10000]] as const) {
      const expected = await valuesOn("cpu", seed, rounds);
      await setBackend("webgpu");
      // One batch of ~360 dispatches overflows the 64 KiB arena (256-byte slots): the path must submit mid-batch.
      tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batchSize);
      const before = tf.memory().numTensors;
      const actual = await valuesOn("webgpu", seed, rounds);
      assert.equal(tf.memory().numTensors, before);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
      assert.ok(worst < 1e-4, `seed ${seed}, ${rounds} rounds, batch ${batchSize}: max |webgpu − cpu| = ${worst}`);
    }
    const stats = leanDispatchStats();
    if (process.env.LMPROBE_WEBGPU_DISPATCH !== "tfjs") {
      assert.ok(stats && stats.hits > 0 && stats.misses > 0, `bind groups were reused: ${JSON.stringify(stats)}`);
    }
  } finally {
    tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batch);
  }
});

test("small host tensors (float32, int32, bool) reach GPU ops intact through the writeBuffer upload", async (t) => {
  const probe = await probeWebgpu();
  if (!probe.available && !probe.usableOnRequest) return t.skip(`no WebGPU adapter here: ${probe.reason}`);
  await setBackend("webgpu");
  const before = tf.memory().numTensors;
  const table = tf.tidy(() => tf.mul(tf.reshape(tf.range(0, 600, 1, "float32"), [200, 3]), 1)); // GPU-resident
  const ids = tf.tensor1d([7, 0, 199, 42, 7], "int32");
  const keep = tf.tensor1d([true, false, true, true, false], "bool");
  const picked = tf.tidy(() => tf.where(tf.reshape(keep, [5, 1]), tf.add(tf.gather(table, ids), tf.tensor1d([0.5, 0.25, -1])), tf.scalar(-7)));
  assert.deepEqual(Array.from(await picked.data()), [21.5, 22.25, 22, -7, -7, -7, 597.5, 598.25, 598, 126.5, 127.25, 127, -7, -7, -7]);
  tf.dispose([table, ids, keep, picked]);
  assert.equal(tf.memory().numTensors, before);
});

test("a repeated forward pass finds every bind group it needs in the cache, with the same logits", async (t) => {
  const probe = await probeWebgpu();
  if (!probe.available && !probe.usableOnRequest) return t.skip(`no WebGPU adapter here: ${probe.reason}`);
  if (process.env.LMPROBE_WEBGPU_DISPATCH === "tfjs") return t.skip("LMPROBE_WEBGPU_DISPATCH=tfjs: tfjs's own dispatch");
  const { loadModel } = await import("../../src/load");
  const model = await loadModel("demo", { backend: "webgpu" });
  const ids = Array.from({ length: 40 }, (_, i) => 1 + ((i * 7919) % 1000));
  const pass = async () => {
    const before = leanDispatchStats()!;
    const out = model.run(ids);
    const logits = Array.from(await out.logits.data());
    out.dispose();
    const after = leanDispatchStats()!;
    return { logits, hits: after.hits - before.hits, misses: after.misses - before.misses };
  };
  try {
    const first = await pass();
    await pass(); // the pool's free buffers settle into the state every later pass starts from
    for (let i = 0; i < 3; i++) {
      const again = await pass();
      // tfjs's pool alone (the buffer freed last goes out first) gave different buffers to the same dispatch
      // from pass to pass, so that most bind groups were created anew each time.
      assert.equal(again.misses, 0, `pass ${i + 3}: ${again.misses} of ${again.hits + again.misses} bind groups created anew`);
      assert.ok(again.hits > 30, `pass ${i + 3} dispatched through the cache (${again.hits} hits)`);
      assert.deepEqual(again.logits, first.logits);
    }
  } finally {
    model.dispose();
  }
});
