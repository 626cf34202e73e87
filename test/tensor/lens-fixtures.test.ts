// The chunked lens reduction against the reference implementation's full logit lens, on the fixtures.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { lensReduce } from "../../src/tensor/lens-reduce";
import { DEMO_DIR, FIXTURES, lensHead, reference, worstMismatch } from "./fixtures";
import { setBackend } from "./reference";

const CASES: [name: string, refDir: string, checkpoint: string][] = [
  ...["gpt2", "llama", "gemma2", "gpt_neox", "llama3-f16-sharded", "qwen3_moe"].map(
    (m) => [m, path.join(FIXTURES, "tiny", m), path.join(FIXTURES, "tiny", m)] as [string, string, string],
  ),
  ["demo-capital", path.join(FIXTURES, "demo-capital"), DEMO_DIR],
];

for (const [name, refDir, checkpoint] of CASES) {
  test(`${name}: chunked lens (vocab chunk < V) matches lens_logprobs, lens_entropy and lens_last_top5`, async () => {
    await setBackend(process.env.LMPROBE_BACKEND ?? "wasm");
    const before = tf.memory().numTensors;
    const ref = reference(refDir);
    const resid = ref.tensor("resid_post");
    const [L1, T, d] = resid.shape;
    const V = ref.json.vocab_size;
    const head = lensHead(checkpoint);
    const rows = tf.tensor2d(resid.data, [L1 * T, d]);
    // Every vocabulary id as a target gives the full log-probability table back, to compare entry by entry.
    const all = Array.from({ length: V }, (_, i) => i);
    const vocabChunk = Math.floor(V / 5) + 3; // smaller than V and not a divisor of it
    const stats = await lensReduce(rows, { ...head, k: 5, targets: all, vocabChunk, rowChunk: 2 * T + 1 });
    rows.dispose();
    head.dispose();
    assert.equal(tf.memory().numTensors, before, "tensors leaked");

    const logprobs = ref.tensor("lens_logprobs").data;
    const lp = worstMismatch(stats.targetLogprobs, logprobs, 1e-4, 1e-4);
    assert.equal(lp.bad, 0, `lens_logprobs: ${lp.bad} entries off, worst ${JSON.stringify(lp.worst)}`);
    const ent = worstMismatch(stats.entropy, ref.tensor("lens_entropy").data, 1e-4, 1e-4);
    assert.equal(ent.bad, 0, `lens_entropy: ${ent.bad} entries off, worst ${JSON.stringify(ent.worst)}`);

    // Ranks of every token agree with the reference's ordering wherever the reference has no near-tie.
    for (let r = 0; r < L1 * T; r++) {
      const row = logprobs.subarray(r * V, (r + 1) * V);
      for (let j = 0; j < V; j += 37) {
        const above = row.filter((v, i) => i !== j && v > row[j] + 1e-5).length;
        const within = row.filter((v, i) => i !== j && Math.abs(v - row[j]) <= 1e-5).length;
        const rank = stats.targetRanks[r * V + j];
        assert.ok(rank >= above + 1 && rank <= above + 1 + within, `row ${r} token ${j}: rank ${rank}, reference ${above + 1}(+${within} ties)`);
      }
    }

    ref.json.lens_last_top5.forEach((top, l) => {
      const r = l * T + (T - 1);
      const ids = Array.from(stats.topIds.subarray(r * 5, r * 5 + 5));
      const probs = Array.from(stats.topProbs.subarray(r * 5, r * 5 + 5));
      probs.forEach((p, i) => assert.ok(Math.abs(p - top.probs[i]) <= 2e-6 + 1e-4 * top.probs[i], `layer ${l} top ${i}: p ${p} vs ${top.probs[i]}`));
      // Ids must match except where two reference probabilities tie at the stored 6 decimals.
      ids.forEach((id, i) => {
        const tied = top.probs.filter((q) => Math.abs(q - top.probs[i]) < 2e-6).length > 1;
        if (!tied) assert.equal(id, top.ids[i], `layer ${l} top ${i}`);
        else assert.ok(top.ids.includes(id) || Math.abs(probs[i] - top.probs[4]) < 2e-6, `layer ${l} top ${i}: ${id} not among ${top.ids}`);
      });
    });
  });
}
