// %% [markdown]
// # Workshop 5 · Steering and ablation
//
// A steering vector is the difference between activations on two contrasting prompts; adding it during a run
// pushes the model toward the first. Ablation removes a component's output to see what depends on it.
// %%
import { loadModel, workshop, steeringVector, steer, zeroAblate } from "lmprobe";

const model = await loadModel();
const ws = workshop(model);
const prompt = "The capital of France is";
function topTokenWith(hooks: any) {
  const run = model.runWithHooks(prompt, hooks, { lastPositionOnly: true });
  const row = Array.from(run.logits.dataSync());
  run.dispose();
  return model.toStrTokens([row.indexOf(Math.max(...row))])[0];
}
// %% [markdown]
// ## Task 5.1 · Steer France toward Japan
// Build the vector from `resid_pre` at layer 2 ("The capital of Japan is" minus "The capital of France is") and add
// it with `steer(vector, 4)`. Predict, then check: what does the model now say after the France prompt?
// %%
const vector = await steeringVector(model, { positive: "The capital of Japan is", negative: prompt, hook: "resid_pre", layer: 2 });
const steered = /* solution */ topTokenWith(steer(vector, 4)) /* end */;
await ws.check("5.1", steered);
// %% [markdown]
// ## Task 5.2 · Without layer 0's attention
// Zero the whole attention output of layer 0 (`zeroAblate("attn_out", { layer: 0 })`). Is " Paris" still the top
// prediction? Answer `true` or `false`.
// %%
const stillParis = /* solution */ topTokenWith(zeroAblate("attn_out", { layer: 0 })) === " Paris" /* end */;
await ws.check("5.2", stillParis);
