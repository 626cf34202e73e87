// On cpu-native a dense MLP whose hidden activations stay inside one onnxruntime call is streamed over blocks of
// positions only past mlpStreaming.oneCallBlockFloats, not past the tensor budget (blockFloats): below it the block
// runs as one call (model/whole-block.ts), and the MLP whole when the block runs op by op. Past it, blocks of
// positions, with the same logits.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setBackend } from "../../src/backend";
import { mlpRunsInOneCall } from "../../src/backend/capabilities";
import { BLOCK_KERNEL, MLP_KERNEL } from "../../src/backend/kernels/fused";
import { mlpStreaming } from "../../src/model/forward";
import { loadFixture, maxAbsDiff } from "../model/engine-helpers";
import { runCountingKernels } from "./run-counting-kernels";

const defaults = { ...mlpStreaming };
before(async () => {
  await setBackend("cpu-native");
});
after(() => Object.assign(mlpStreaming, defaults));

test("cpu-native runs the MLP in one call for its activations, and not for one it does not fuse", () => {
  assert.ok(mlpRunsInOneCall("silu") && mlpRunsInOneCall("gelu_tanh"));
  assert.ok(!mlpRunsInOneCall("gelu"), "the erf GELU is composed of tensors: the tensor budget applies");
});

for (const name of ["gpt2", "llama"]) {
  test(`cpu-native: an MLP over the tensor budget but within the one-call budget runs whole: ${name}`, async () => {
    const model = loadFixture(name);
    try {
      const mlp = model.weights.blocks[0].mlp;
      assert.equal(mlp.kind, "dense");
      const dMlp = mlp.kind === "dense" ? mlp.W_in.shape[1] : 0;
      const L = model.config.numLayers;
      const ids = Array.from({ length: 10 }, (_, i) => (i * 7 + 3) % model.config.vocabSize);
      const T = ids.length;
      Object.assign(mlpStreaming, { blockFloats: 3 * dMlp, oneCallBlockFloats: defaults.oneCallBlockFloats });
      const oneCall = await runCountingKernels(model, ids, ["resid_post"], false);
      const oneCallOpByOp = await runCountingKernels(model, ids, ["resid_post"], true);
      Object.assign(mlpStreaming, { blockFloats: 3 * dMlp, oneCallBlockFloats: 3 * dMlp });
      const streamed = await runCountingKernels(model, ids, ["resid_post"], true);

      assert.equal(oneCall.count(BLOCK_KERNEL), L, "every block as one call: the tensor budget does not stream it");
      assert.equal(oneCallOpByOp.count(MLP_KERNEL), L, "op by op, each MLP whole");
      assert.equal(streamed.count(BLOCK_KERNEL), 0);
      assert.equal(streamed.count(MLP_KERNEL), L * Math.ceil(T / 3), "past the one-call budget: blocks of three positions");
      for (const run of [oneCallOpByOp, streamed]) {
        assert.ok(maxAbsDiff(run.logits, oneCall.logits) <= 1e-5, `logits differ by ${maxAbsDiff(run.logits, oneCall.logits)}`);
        assert.ok(maxAbsDiff(run.post, oneCall.post) <= 1e-5);
      }
    } finally {
      Object.assign(mlpStreaming, defaults);
      model.dispose();
    }
  });
}
