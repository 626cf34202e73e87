// The attention mask built by tensor ops (what webgpu forwards use) against the host-loop mask the engine uses on
// wasm/cpu: identical elements for causal, sliding-window, left-padded and cached-past cases, and no tensor left.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ensureBackend } from "../../src/backend";
import { attentionMask, attentionMaskOnDevice, MASKED } from "../../src/model/components/masks";

function row(keys: number, padding: number): Uint8Array {
  const r = new Uint8Array(keys).fill(1);
  r.fill(0, 0, padding);
  return r;
}

const cases: { name: string; keyValid: Uint8Array[]; past: number; queries: number; window: number | null }[] = [
  { name: "causal", keyValid: [row(7, 0)], past: 0, queries: 7, window: null },
  { name: "sliding window", keyValid: [row(9, 0)], past: 0, queries: 9, window: 3 },
  { name: "left padding, two rows", keyValid: [row(6, 0), row(6, 2)], past: 0, queries: 6, window: null },
  { name: "cached past, padding and window", keyValid: [row(8, 1), row(8, 3)], past: 5, queries: 3, window: 4 },
  { name: "one new token", keyValid: [row(5, 0)], past: 4, queries: 1, window: 2 },
];

for (const c of cases) {
  test(`the on-device attention mask equals the host one: ${c.name}`, async () => {
    await ensureBackend();
    const before = tf.memory().numTensors;
    const host = attentionMask(c.keyValid, c.past, c.queries, c.window);
    const device = attentionMaskOnDevice(c.keyValid, c.past, c.queries, c.window);
    assert.deepEqual(device.shape, host.shape);
    const d = await device.data();
    const h = await host.data();
    assert.deepEqual(Array.from(d), Array.from(h));
    // Both kinds of element occur, so an all-0 or all-MASKED mask would fail.
    assert.ok(d.includes(MASKED) && d.includes(0));
    tf.dispose([host, device]);
    assert.equal(tf.memory().numTensors, before);
  });
}
