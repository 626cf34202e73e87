import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { attentionDistance, classifyDistance } from "../../src/probe/attention-distance";
import { close, model, referenceOf, rows } from "./models";

type HeadRow = { layer: number; head: number; d50: number; d90: number; mean_distance: number; distance_class: string; normalised_entropy: number; recent_mass: number; self_mass: number; labels: string };

// Float64 reference from the transformers attentions [L, H, T, T]: per head, mass by distance averaged over queries.
function referenceProfiles(att: { data: Float32Array; shape: number[] }, layer: number, head: number): number[] {
  const [, H, T] = att.shape;
  const base = (layer * H + head) * T * T;
  const profile = new Array(T).fill(0);
  for (let q = 0; q < T; q++) for (let k = 0; k <= q; k++) profile[q - k] += att.data[base + q * T + k] / T;
  return profile;
}

function quantile(profile: number[], q: number): number {
  const total = profile.reduce((s, v) => s + v, 0);
  let c = 0;
  for (let d = 0; d < profile.length; d++) if ((c += profile[d] / total) >= q - 1e-9) return d;
  return profile.length - 1;
}

// mistral: sliding window 8 < 18 tokens, so distances ≥ 8 must carry nothing; gemma2 adds softcaps and windows.
for (const name of ["mistral", "gemma2", "llama", "demo"]) {
  test(`${name}: attention mass by distance, d50/d90 and most-attended keys match a float64 computation on the reference patterns`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const att = ref.tensor("attentions");
    const [L, H, T] = att.shape;
    const before = tf.memory().numTensors;
    const res = await attentionDistance(m, ref.ints("input_ids"), { topKeys: 3 });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const profile = rows<{ layer: number; head: number; distance: number; mass: number }>(res.profile);
    assert.equal(profile.length, L * H * T);
    const heads = rows<HeadRow>(res.heads);
    for (const h of heads) {
      const expected = referenceProfiles(att, h.layer, h.head);
      const got = profile.filter((r) => r.layer === h.layer && r.head === h.head).map((r) => r.mass);
      got.forEach((v, d) => assert.ok(close(v, expected[d], 1e-5, 1e-3), `L${h.layer}H${h.head} d=${d}: ${v} vs ${expected[d]}`));
      // Quantiles are robust to float noise except at an exact boundary; the reference decides.
      assert.equal(h.d50, quantile(expected, 0.5), `L${h.layer}H${h.head} d50`);
      assert.equal(h.d90, quantile(expected, 0.9), `L${h.layer}H${h.head} d90`);
      const total = expected.reduce((s, v) => s + v, 0);
      assert.ok(close(h.mean_distance, expected.reduce((s, v, d) => s + d * v, 0) / total, 1e-4, 1e-3));
      assert.ok(close(h.self_mass, expected[0] / total, 1e-5, 1e-3));
      assert.equal(h.distance_class, classifyDistance(h.d50, h.d90, { veryLocal: 2, local: 8 }));
      if (name === "mistral") expected.slice(8).forEach((v) => assert.ok(v < 1e-6, "the reference itself respects the window"));
      if (name === "mistral") got.slice(8).forEach((v, i) => assert.ok(v < 1e-6, `window: mass at distance ${i + 8} is ${v}`));
    }
    // Most-attended keys: the mean over queries of the attention each key receives.
    const attended = rows<{ layer: number; head: number; rank: number; key: number; mass: number }>(res.attended);
    for (const a of attended.filter((r) => r.rank === 1)) {
      const base = (a.layer * H + a.head) * T * T;
      const received = Array.from({ length: T }, (_, k) => {
        let s = 0;
        for (let q = 0; q < T; q++) s += att.data[base + q * T + k];
        return s / T;
      });
      const best = Math.max(...received);
      assert.ok(close(a.mass, best, 1e-5, 1e-3), `L${a.layer}H${a.head} top key mass ${a.mass} vs ${best}`);
      assert.ok(close(received[a.key], best, 1e-5, 1e-3), `L${a.layer}H${a.head} top key ${a.key}`);
    }
    assert.equal(L, m.config.numLayers);
  });
}

test("distance classes follow the documented thresholds", () => {
  const t = { veryLocal: 2, local: 8 };
  assert.equal(classifyDistance(0, 1, t), "very local");
  assert.equal(classifyDistance(1, 6, t), "local");
  assert.equal(classifyDistance(3, 20, t), "mixed");
  assert.equal(classifyDistance(12, 20, t), "global");
});

test("a previous-token head is labelled recent and a uniform head diffuse (synthetic patterns through the cache path)", async () => {
  const { attentionDistanceFromCache } = await import("../../src/probe/attention-distance");
  await (await import("./models")).ready();
  const T = 12;
  const prev = new Float32Array(T * T);
  const uniform = new Float32Array(T * T);
  for (let q = 0; q < T; q++) {
    prev[q * T + Math.max(q - 1, 0)] = 1;
    for (let k = 0; k <= q; k++) uniform[q * T + k] = 1 / (q + 1);
  }
  const pattern = tf.tensor4d([...prev, ...uniform], [1, 2, T, T]);
  const cache = { get: () => pattern, names: () => ["blocks.0.attn.hook_pattern"], has: () => true };
  const res = await attentionDistanceFromCache(cache as never, [0], Array.from({ length: T }, (_, i) => `t${i}`));
  pattern.dispose();
  const [p, u] = rows<HeadRow>(res.heads);
  assert.match(p.labels, /recent/);
  assert.doesNotMatch(p.labels, /diffuse/);
  assert.equal(p.d90, 1);
  assert.equal(p.distance_class, "very local");
  assert.match(u.labels, /diffuse/);
  assert.ok(Math.abs(u.normalised_entropy - 1) < 1e-5, `uniform attention has normalised entropy 1, got ${u.normalised_entropy}`);
});
