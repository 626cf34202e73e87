// Parity of a checkpoint with its reference file (test/fixtures/{tiny,generated}/<name>): every tensor within
// atol = rtol = 1e-4 through verify(), the greedy continuation with and without the key/value cache, on each
// backend, and no tensor left behind. Shared by the dense, MoE and generated-fixture tests.
import assert from "node:assert/strict";
import path from "node:path";
import type { TestContext } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { verify, type VerifyResult } from "../../src/verify";

export const FIXTURES = path.resolve(__dirname, "../fixtures");
export const PARITY_BACKENDS = ["wasm", "cpu"] as const;

const EVERY_TENSOR = ["logits", "hidden_states", "resid_post", "lens_logprobs", "lens_entropy", "layer_cos_last", "layer_cos_flat", "attentions"];

/** Loads the fixture `dir` on `backend`, runs `body`, disposes the model and checks nothing leaked. */
export async function withFixtureModel<T>(dir: string, backend: string, body: (model: LanguageModel) => Promise<T> | T): Promise<T> {
  const model = await loadModel(dir, { backend: backend as "wasm" | "cpu" });
  const before = tf.memory().numTensors;
  try {
    const result = await body(model);
    assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked by the calls on ${path.basename(dir)}`);
    return result;
  } finally {
    model.dispose();
  }
}

/** Asserts verify() passes on every backend; returns the results by backend (logged as diagnostics). */
export async function assertParity(t: TestContext, dir: string, opts: { moe: boolean; omitted?: string[] }): Promise<Record<string, VerifyResult>> {
  const results: Record<string, VerifyResult> = {};
  for (const backend of PARITY_BACKENDS) {
    const r = await withFixtureModel(dir, backend, (model) => verify(model, path.join(dir, "reference.safetensors")));
    // `omitted`: tensors the reference leaves out (OPT-350m's last hidden state is narrower than the residual stream).
    const expected = (opts.moe ? [...EVERY_TENSOR, "router_logits"] : EVERY_TENSOR).filter((n) => !opts.omitted?.includes(n));
    assert.deepEqual(Object.keys(r.tensors).sort(), expected.sort(), `${backend}: the tensors compared`);
    for (const [name, c] of Object.entries(r.tensors)) {
      assert.ok(c!.ok, `${backend} ${name}: max abs diff ${c!.maxAbsDiff} at [${c!.worstAt}] ${c!.problem ?? ""}`);
    }
    assert.ok(r.generated, `${backend}: the reference has generated_ids`);
    assert.ok(r.generated.withCache.ok && r.generated.withoutCache.ok, `${backend}: generation ${JSON.stringify(r.generated)}`);
    assert.ok(r.ok);
    t.diagnostic(`${backend}: logits max abs diff ${r.tensors.logits!.maxAbsDiff.toExponential(2)}, resid_post ${r.tensors.resid_post!.maxAbsDiff.toExponential(2)}`);
    results[backend] = r;
  }
  return results;
}
