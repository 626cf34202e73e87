import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { residualNorms, residualNormsFromCache, residualNormHooks } from "../../src/probe/residual";
import { close, model, referenceOf, rows } from "./models";

type Row = { layer: number; position: number; norm: number; delta_norm: number | null; attn_norm: number | null; mlp_norm: number | null };

function norm64(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

for (const name of ["gpt2", "gpt_neox", "demo"]) {
  test(`${name}: residual norms and deltas match the reference resid_post; attention and MLP norms match the hooks`, async () => {
    const m = await model(name);
    const ref = referenceOf(name);
    const resid = ref.tensor("resid_post");
    const [L1, T, d] = resid.shape;
    const at = (l: number, p: number) => resid.data.subarray((l * T + p) * d, (l * T + p + 1) * d);
    const before = tf.memory().numTensors;
    const res = await residualNorms(m, ref.ints("input_ids"));
    assert.equal(tf.memory().numTensors, before, "tensors leaked");
    const table = rows<Row>(res.table);
    assert.equal(table.length, L1 * T);
    for (const r of table) {
      assert.ok(close(r.norm, norm64(at(r.layer, r.position)), 1e-3, 1e-4), `norm ${r.layer}/${r.position}`);
      if (r.layer === 0) {
        assert.equal(r.delta_norm, null);
        continue;
      }
      const delta = at(r.layer, r.position).map((v, i) => v - at(r.layer - 1, r.position)[i]);
      assert.ok(close(r.delta_norm!, norm64(delta), 1e-3, 1e-3), `delta ${r.layer}/${r.position}: ${r.delta_norm} vs ${norm64(delta)}`);
    }
    // Attention and MLP norms against the cached hooks themselves, and the block update is their sum.
    const run = m.run(ref.ints("input_ids"), { cache: residualNormHooks(m.config.numLayers) });
    try {
      for (const r of table.filter((r) => r.layer > 0)) {
        const attn = (run.cache.get("attn_out", r.layer - 1).arraySync() as number[][][])[0][r.position];
        const mlp = (run.cache.get("mlp_out", r.layer - 1).arraySync() as number[][][])[0][r.position];
        assert.ok(close(r.attn_norm!, norm64(attn), 1e-3, 1e-4));
        assert.ok(close(r.mlp_norm!, norm64(mlp), 1e-3, 1e-4));
        assert.ok(close(r.delta_norm!, norm64(attn.map((v, i) => v + mlp[i])), 1e-3, 1e-3), "the block adds attn_out + mlp_out");
      }
      const again = await residualNormsFromCache(run.cache, m.config.numLayers, m.toStrTokens(ref.ints("input_ids")));
      assert.deepEqual(rows(again.summary).map((r) => (r as Row).layer), Array.from({ length: L1 }, (_, l) => l));
    } finally {
      run.dispose();
    }
  });
}
