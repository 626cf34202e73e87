import { test } from "node:test";
import assert from "node:assert/strict";
import { modelOverview } from "../../src/probe/model-overview";
import { model, rows } from "./models";

type P = { component: string; parameters: number; active_per_token: number };
type F = { component: string; prefill_flops: number; per_token_flops: number };

test("demo: parameters and FLOPs by component equal a hand count", async () => {
  const m = await model("demo");
  // The demo model (models/lmprobe-demo/config.json): d 256, 8 heads and 4 key/value heads of 32, SwiGLU 704,
  // vocabulary 1024, 4 layers, tied embeddings, RMSNorm with a scale only.
  const perLayer = { q: 256 * 256, k: 256 * 128, v: 256 * 128, o: 256 * 256, mlp: 3 * 256 * 704, norms: 2 * 256 };
  const o = modelOverview(m, { positions: 5 });
  const params = Object.fromEntries(rows<P>(o.parameters).map((r) => [r.component, r.parameters]));
  assert.equal(params.embedding, 1024 * 256);
  assert.equal(params.attention, 4 * (perLayer.q + perLayer.k + perLayer.v + perLayer.o));
  assert.equal(params.mlp, 4 * perLayer.mlp);
  assert.equal(params.norms, 4 * perLayer.norms + 256);
  assert.equal(params["unembedding (tied to embedding)"], 0);
  assert.equal(o.totalParameters, 3_213_568);
  assert.equal(o.activeParameters, o.totalParameters);
  assert.equal(o.isMoe, false);

  // FLOPs of a 5-token prefill: every projection costs 2·in·out per token; q·k and pattern·v cost 2·32 each per
  // head and attended pair, with 1+2+3+4+5 = 15 causal pairs; the unembedding 2·256·1024 per position.
  const projections = 2 * (perLayer.q + perLayer.k + perLayer.v + perLayer.o); // 393 216 per token and layer
  const mlp = 2 * perLayer.mlp; // 1 081 344
  const flops = Object.fromEntries(rows<F>(o.flops).map((r) => [r.component, r]));
  assert.equal(flops.attention.prefill_flops, 4 * 5 * 393_216);
  assert.equal(projections, 393_216);
  assert.equal(flops["attention scores"].prefill_flops, 4 * 15 * 8 * 2 * 2 * 32);
  assert.equal(flops.mlp.prefill_flops, 4 * 5 * mlp);
  assert.equal(flops.unembedding.prefill_flops, 5 * 2 * 256 * 1024);
  assert.equal(flops.total.prefill_flops, 4 * (5 * (393_216 + 1_081_344) + 15 * 1024) + 5 * 524_288);
  // One more token after the 5: its projections once, and 6 keys per head.
  assert.equal(flops.total.per_token_flops, 4 * (393_216 + 1_081_344 + 6 * 1024) + 524_288);

  const config = Object.fromEntries(rows<{ key: string; value: string }>(o.config).map((r) => [r.key, r.value]));
  assert.equal(config.layers, "4");
  assert.equal(config["key/value heads"], "4");
  assert.equal(config["tied embeddings"], "true");
  const tok = Object.fromEntries(rows<{ key: string; value: string }>(o.tokenizer).map((r) => [r.key, r.value]));
  assert.equal(tok["embedding rows"], "1024");
  assert.match(tok.BOS, /^0 /);
});

test("mixtral: the router is counted apart and one token uses top-k of the experts", async () => {
  const m = await model("mixtral");
  const o = modelOverview(m, { positions: 7 });
  const params = Object.fromEntries(rows<P>(o.parameters).map((r) => [r.component, r]));
  const cfg = m.config;
  const d = cfg.hiddenSize;
  const E = cfg.moe!.numExperts;
  const f = cfg.moe!.intermediateSize ?? cfg.intermediateSize;
  assert.equal(o.isMoe, true);
  assert.equal(params.router.parameters, cfg.numLayers * d * E);
  assert.equal(params.experts.parameters, cfg.numLayers * E * 3 * d * f);
  assert.equal(params.experts.active_per_token, (cfg.numLayers * E * 3 * d * f * cfg.moe!.topK) / E);
  assert.ok(o.activeParameters < o.totalParameters);
  const flops = Object.fromEntries(rows<F>(o.flops).map((r) => [r.component, r]));
  assert.equal(flops.experts.per_token_flops, cfg.numLayers * cfg.moe!.topK * 3 * 2 * d * f);
});

test("positions must be a whole number ≥ 1", async () => {
  const m = await model("demo");
  assert.throws(() => modelOverview(m, { positions: 0 }), /positions/);
});

test("demo: quick stats name the top prediction with its probability and logit margin", async () => {
  const { quickStats } = await import("../../src/probe/quick-stats");
  const m = await model("demo");
  const q = await quickStats(m, "The capital of France is");
  const run = m.run("The capital of France is");
  const last = (run.logits.arraySync() as number[][][])[0].at(-1)!;
  run.dispose();
  const sorted = [...last].sort((a, b) => b - a);
  const lse = sorted[0] + Math.log(last.reduce((s, v) => s + Math.exp(v - sorted[0]), 0));
  assert.equal(q.topTokenId, last.indexOf(sorted[0]));
  assert.equal(q.topToken, " Paris");
  assert.ok(Math.abs(q.probability - Math.exp(sorted[0] - lse)) < 1e-5);
  assert.ok(Math.abs(q.margin - (sorted[0] - sorted[1])) < 1e-4);
  assert.equal(q.saturated, q.probability >= 1 - 2 ** -24);
  assert.match(q.summary, /Paris/);
});
