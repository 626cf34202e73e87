import { test } from "node:test";
import assert from "node:assert/strict";
import { moeRouting } from "../../src/probe/moe";
import { expertStatus, moeInsights, routingInspector } from "../../src/probe/moe-insights";
import { close, model, referenceOf, rows } from "./models";

test("mixtral: the auxiliary-loss proxy equals transformers' load-balancing loss computed from the reference router logits", async () => {
  const m = await model("mixtral");
  const ref = referenceOf("mixtral");
  const logits = ref.tensor("router_logits"); // [L, T, E]
  const [L, T, E] = logits.shape;
  const k = m.config.moe!.topK;
  const routing = await moeRouting(m, ref.ints("input_ids"));
  const insights = moeInsights(routing);
  const balance = rows<{ layer: number; aux_loss_proxy: number; even_aux_loss: number; balance: number }>(insights.balance);
  assert.equal(balance.length, L);
  for (const b of balance) {
    // load_balancing_loss_func for one sequence: E · Σᵢ (tokens choosing i in any slot / T) · mean softmax prob of i.
    const tokensPer = new Array(E).fill(0);
    const probPer = new Array(E).fill(0);
    for (let t = 0; t < T; t++) {
      const row = Array.from(logits.data.subarray((b.layer * T + t) * E, (b.layer * T + t + 1) * E));
      const max = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - max), 0);
      const p = row.map((v) => Math.exp(v - max) / z);
      p.forEach((v, e) => (probPer[e] += v / T));
      p.map((v, e) => [v, e]).sort((a, c) => c[0] - a[0]).slice(0, k).forEach(([, e]) => (tokensPer[e] += 1 / T));
    }
    const expected = E * tokensPer.reduce((s, f, e) => s + f * probPer[e], 0);
    assert.ok(close(b.aux_loss_proxy, expected, 1e-5, 1e-4), `layer ${b.layer}: ${b.aux_loss_proxy} vs ${expected}`);
    assert.equal(b.even_aux_loss, k);
    assert.ok(b.balance > 0 && b.balance <= 1 + 1e-12);
  }
  // Specialisation lists the tokens each expert took, with counts that add up to the expert's load.
  const load = rows<{ layer: number; expert: number; count: number }>(routing.load);
  const spec = rows<{ layer: number; expert: number; count: number; rank: number }>(moeInsights(routing, { topTokens: 1000 }).specialisation);
  for (const l of load) assert.equal(spec.filter((s) => s.layer === l.layer && s.expert === l.expert).reduce((s, r) => s + r.count, 0), l.count);
  // Weight distributions by slot and section cover every routed slot.
  const sections = Array.from({ length: T }, (_, t) => (t < T / 2 ? "first half" : "second half"));
  const weights = rows<{ layer: number; slot: number; section: string; tokens: number }>(moeInsights(routing, { sections }).weights);
  assert.equal(weights.filter((w) => w.layer === 0).reduce((s, w) => s + w.tokens, 0), T * k);
  assert.deepEqual([...new Set(weights.map((w) => w.section))].sort(), ["first half", "second half"]);
  assert.throws(() => moeInsights(routing, { sections: ["x"] }), /sections/);
  // The inspector reads one token's routing with the router's probabilities.
  const inspect = rows<{ layer: number; slot: number; expert: number; router_prob: number }>(routingInspector(routing, 2));
  assert.equal(inspect.length, L * k);
  for (const r of inspect.filter((x) => x.slot === 0)) {
    const row = Array.from(logits.data.subarray((r.layer * T + 2) * E, (r.layer * T + 3) * E));
    assert.equal(r.expert, row.indexOf(Math.max(...row)), "Mixtral's first slot is the router's argmax");
  }
  assert.throws(() => routingInspector(routing, T + 3), /position/);
});

test("expert status follows the fair share", () => {
  const o = { dominant: 2, underUsed: 0.25 };
  assert.equal(expertStatus(0, 0, 8, o), "dead");
  assert.equal(expertStatus(0.25, 4, 8, o), "dominant");
  assert.equal(expertStatus(0.02, 1, 8, o), "under-used");
  assert.equal(expertStatus(0.125, 2, 8, o), "normal");
});
