// The parity suite: `verify` passes at atol = rtol = 1e-4 on every dense fixture and on the demo model, generation
// included (with and without the key/value cache). parity.test.ts runs it on cpu-native (or LMPROBE_BACKEND),
// parity-wasm on wasm, parity-cpu on cpu.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { verify } from "../../src/verify";
import { DENSE_FIXTURES, loadFixture, referencePath } from "../model/engine-helpers";

export function parityTests(label: string, setup: () => Promise<unknown>): void {
  before(setup);
  for (const name of [...DENSE_FIXTURES, "demo"]) {
    test(`${label}: ${name} matches its reference (tensors and 8 generated ids, cache on and off)`, async () => {
      const model = loadFixture(name);
      const baseline = tf.memory().numTensors;
      try {
        const result = await verify(model, referencePath(name));
        const failing = Object.entries(result.tensors).filter(([, t]) => !t!.ok);
        assert.deepEqual(failing.map(([n, t]) => `${n} ratio ${t!.worstRatio} ${t!.problem ?? ""}`), []);
        for (const expected of ["logits", "resid_post", "hidden_states", "attentions", "lens_logprobs", "lens_entropy", "layer_cos_last", "layer_cos_flat"]) {
          assert.ok(expected in result.tensors, `${expected} was compared`);
        }
        assert.ok(result.generated, "generated_ids were compared");
        assert.equal(result.generated!.withCache.divergedAt, null, "greedy ids with the kv cache");
        assert.equal(result.generated!.withoutCache.divergedAt, null, "greedy ids without the kv cache");
        assert.ok(result.ok);
        console.log(`${label} ${name}: max |diff| logits ${result.tensors.logits!.maxAbsDiff.toExponential(2)}, resid_post ${result.tensors.resid_post!.maxAbsDiff.toExponential(2)}`);
        assert.equal(tf.memory().numTensors, baseline, "verify leaves no tensors behind");
      } finally {
        model.dispose();
      }
    });
  }
}

