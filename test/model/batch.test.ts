// A left-padded batch of two prompts of different lengths matches the reference's batch logits where the mask
// is 1, with the reference's own attention mask and position ids (cumsum(mask) − 1, clipped at 0).
import assert from "node:assert/strict";
import path from "node:path";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { padBatch } from "../../src/model/inputs";
import { TINY, loadFixture, readReference, useBackend } from "./engine-helpers";

before(useBackend);

const ref = readReference(path.join(TINY, "llama/batch_reference.safetensors"), (f) => ({
  ids: f.readIntegers("batch_input_ids"),
  mask: f.readIntegers("batch_attention_mask"),
  positions: f.readIntegers("batch_position_ids"),
  logits: f.readFloat32("batch_logits"),
  shape: f.entry("batch_input_ids").shape,
}));

test("the reference batch really is left-padded with prompts of different lengths", () => {
  const [, T] = ref.shape;
  const lengths = [0, 1].map((b) => ref.mask.slice(b * T, (b + 1) * T).reduce((s, v) => s + v, 0));
  assert.notEqual(lengths[0], lengths[1]);
  assert.equal(ref.mask[0] === 0 || ref.mask[T] === 0, true, "one row starts with padding");
});

test("padBatch reproduces the reference's mask and position ids", () => {
  const [B, T] = ref.shape;
  const rows = Array.from({ length: B }, (_, b) => ref.ids.slice(b * T, (b + 1) * T).filter((_, i) => ref.mask[b * T + i] === 1));
  const batch = padBatch(rows, 0, 128);
  assert.deepEqual(batch.keyValid.flatMap((r) => Array.from(r)), ref.mask);
  assert.deepEqual(batch.positions.flat(), ref.positions);
  assert.deepEqual(batch.ids.flat(), ref.ids);
});

test("run on the two unpadded prompts gives the reference batch logits where the mask is 1", async () => {
  const [B, T] = ref.shape;
  const model = loadFixture("llama");
  try {
    const rows = Array.from({ length: B }, (_, b) => ref.ids.slice(b * T, (b + 1) * T).filter((_, i) => ref.mask[b * T + i] === 1));
    const baseline = tf.memory().numTensors;
    const result = model.run(rows);
    const ours = await result.logits.data();
    const V = result.logits.shape[2];
    assert.deepEqual(result.logits.shape, [B, T, V]);
    assert.deepEqual(result.attentionMask.flat(), ref.mask);
    let worst = 0;
    let compared = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        if (ref.mask[b * T + t] !== 1) continue;
        for (let v = 0; v < V; v++) {
          const i = (b * T + t) * V + v;
          worst = Math.max(worst, Math.abs(ours[i] - ref.logits[i]) / (1e-4 + 1e-4 * Math.abs(ref.logits[i])));
          compared++;
        }
      }
    }
    assert.ok(compared > 0);
    assert.ok(worst <= 1, `worst ratio to the 1e-4 allowance: ${worst}`);
    result.dispose();
    assert.equal(tf.memory().numTensors, baseline);

    // Each row alone gives the same logits as in the batch: padding changes nothing for the real tokens.
    const alone = model.run([rows[0]]);
    const aloneData = await alone.logits.data();
    const pad = T - rows[0].length;
    const inBatch = ours.slice(pad * V, T * V);
    let diff = 0;
    for (let i = 0; i < inBatch.length; i++) diff = Math.max(diff, Math.abs(inBatch[i] - aloneData[i]));
    assert.ok(diff < 1e-4, `row 0 alone vs in the batch: ${diff}`);
    alone.dispose();
  } finally {
    model.dispose();
  }
});
