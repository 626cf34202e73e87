import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { logitLens } from "../../src/probe/logit-lens";
import { AbortError, ArgumentError } from "../../src/errors";
import { close, model, referenceOf, rows } from "./models";

type LensRow = { layer: number; stream: string; position: number; rank: number; token_id: number; prob: number; logprob: number; entropy: number };

for (const name of ["gpt2", "llama", "gemma2", "gpt_neox", "mixtral", "demo"]) {
  test(`${name}: logit lens through the engine matches lens_entropy, lens_logprobs and lens_last_top5`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const ids = ref.ints("input_ids");
    const [L1, T, V] = ref.json.keys.lens_logprobs;
    const logprobs = ref.tensor("lens_logprobs").data;
    const entropy = ref.tensor("lens_entropy").data;
    const targets = [0, 7, V - 1, ref.json.lens_last_top5[L1 - 1].ids[0]];
    const before = tf.memory().numTensors;
    const lens = await logitLens(m, ids, { k: 5, targets, vocabChunk: Math.ceil(V / 3) + 1 });
    assert.equal(tf.memory().numTensors, before, "tensors leaked");

    const ent = rows<LensRow>(lens.entropy);
    assert.equal(ent.length, L1 * T);
    for (const r of ent) assert.ok(close(r.entropy, entropy[r.layer * T + r.position]), `entropy layer ${r.layer} pos ${r.position}: ${r.entropy} vs ${entropy[r.layer * T + r.position]}`);

    for (const r of rows<LensRow & { target_id: number }>(lens.trajectory!)) {
      const want = logprobs[(r.layer * T + r.position) * V + r.target_id];
      assert.ok(close(r.logprob, want), `logprob layer ${r.layer} pos ${r.position} token ${r.target_id}: ${r.logprob} vs ${want}`);
      const row = logprobs.subarray((r.layer * T + r.position) * V, (r.layer * T + r.position + 1) * V);
      const above = row.filter((v, i) => i !== r.target_id && v > want + 1e-4).length;
      const ties = row.filter((v, i) => i !== r.target_id && Math.abs(v - want) <= 1e-4).length;
      assert.ok(r.rank >= above + 1 && r.rank <= above + 1 + ties, `rank ${r.rank} vs ${above + 1} (+${ties} near ties)`);
    }

    const table = rows<LensRow>(lens.table);
    assert.equal(table.length, L1 * T * 5);
    ref.json.lens_last_top5.forEach((top, layer) => {
      const got = table.filter((r) => r.layer === layer && r.position === T - 1).sort((a, b) => a.rank - b.rank);
      got.forEach((r, i) => {
        assert.ok(close(r.prob, top.probs[i], 2e-6, 2e-4), `layer ${layer} top ${i} prob ${r.prob} vs ${top.probs[i]}`);
        const tied = top.probs.filter((q) => Math.abs(q - top.probs[i]) < 2e-6).length > 1;
        if (!tied) assert.equal(r.token_id, top.ids[i], `layer ${layer} top ${i}`);
      });
    });
  });
}

test("positions subset, attn_out / mlp_out streams, progress and abort", async () => {
  const m = await model("llama");
  const ids = referenceOf("llama").ints("input_ids");
  const full = rows<LensRow>((await logitLens(m, ids, { k: 3 })).table);
  const progress: [number, number][] = [];
  const part = await logitLens(m, ids, { k: 3, positions: [0, -1], streams: ["resid_post", "attn_out", "mlp_out"], rowChunk: 3, onProgress: (p) => progress.push([p.done, p.total]) });
  const L = m.config.numLayers;
  // 2 positions × (3L + 1) layer entries = 14 rows in chunks of 3: five reports, the last one complete.
  assert.equal(progress.length, Math.ceil((2 * (3 * L + 1)) / 3));
  assert.deepEqual(progress.at(-1), [3 * L + 1, 3 * L + 1]);
  assert.ok(progress.every(([d], i) => i === 0 || d >= progress[i - 1][0]));
  const partRows = rows<LensRow>(part.table);
  assert.deepEqual([...new Set(partRows.map((r) => r.position))], [0, ids.length - 1]);
  for (const r of partRows.filter((r) => r.stream === "resid_post")) {
    const same = full.find((f) => f.layer === r.layer && f.position === r.position && f.rank === r.rank)!;
    assert.equal(r.token_id, same.token_id);
    assert.ok(close(r.prob, same.prob, 1e-6, 1e-5));
  }
  for (const stream of ["attn_out", "mlp_out"]) {
    assert.deepEqual([...new Set(partRows.filter((r) => r.stream === stream).map((r) => r.layer))], Array.from({ length: L }, (_, l) => l + 1));
  }
  const controller = new AbortController();
  await assert.rejects(logitLens(m, ids, { rowChunk: 4, signal: controller.signal, onProgress: () => controller.abort() }), AbortError);
  await assert.rejects(logitLens(m, ids, { targets: "definitely several tokens" }), ArgumentError);
});

test("every column of the lens's three tables agrees with its raw stats and the token texts, across streams and targets", async () => {
  const m = await model("llama");
  const ids = referenceOf("llama").ints("input_ids");
  const targets = [3, 11];
  const positions = [1, 0, -1];
  const lens = await logitLens(m, ids, { k: 3, positions, targets, streams: ["resid_post", "mlp_out"] });
  const text = (id: number) => m.toStrTokens([id])[0];
  const P = lens.positions.length;
  assert.deepEqual(lens.positions, [1, 0, ids.length - 1]);
  type Top = LensRow & { input_token: string; token: string };
  type Ent = { layer: number; stream: string; position: number; input_token: string; entropy: number; top_token: string; top_prob: number };
  type Traj = { layer: number; stream: string; position: number; target: string; target_id: number; rank: number; prob: number; logprob: number };
  const top = rows<Top>(lens.table);
  const ent = rows<Ent>(lens.entropy);
  const traj = rows<Traj>(lens.trajectory!);
  assert.equal(top.length, lens.stats.length * P * 3);
  assert.equal(ent.length, lens.stats.length * P);
  assert.equal(traj.length, lens.stats.length * P * targets.length);
  lens.stats.forEach(({ stream, layer, stats: s }, e) => {
    for (let r = 0; r < P; r++) {
      const position = lens.positions[r];
      const input_token = text(ids[position]);
      const row = ent[e * P + r];
      assert.deepEqual([row.layer, row.stream, row.position, row.input_token], [layer, stream, position, input_token]);
      assert.equal(row.entropy, s.entropy[r]);
      assert.equal(row.top_token, text(s.topIds[r * 3]));
      assert.equal(row.top_prob, s.topProbs[r * 3]);
      for (let j = 0; j < 3; j++) {
        const t = top[(e * P + r) * 3 + j];
        assert.deepEqual([t.layer, t.stream, t.position, t.input_token, t.rank], [layer, stream, position, input_token, j + 1]);
        assert.deepEqual([t.token_id, t.token, t.prob, t.logprob, t.entropy], [s.topIds[r * 3 + j], text(s.topIds[r * 3 + j]), s.topProbs[r * 3 + j], s.topLogprobs[r * 3 + j], s.entropy[r]]);
      }
      targets.forEach((id, j) => {
        const t = traj[(e * P + r) * targets.length + j];
        assert.deepEqual([t.layer, t.stream, t.position, t.target, t.target_id], [layer, stream, position, text(id), id]);
        assert.deepEqual([t.rank, t.prob, t.logprob], [s.targetRanks[r * 2 + j], s.targetProbs[r * 2 + j], s.targetLogprobs[r * 2 + j]]);
      });
    }
  });
});
