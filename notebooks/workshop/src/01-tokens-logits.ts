// %% [markdown]
// # Workshop 1 · Tokens, logits and probabilities
//
// A language model reads **tokens**, not words, and at every position it outputs one **logit** per token of its
// vocabulary: a score for "this comes next". Softmax turns the scores into probabilities. We use lmprobe's demo
// model, a 4-layer model trained on simple English facts.
//
// After each task, run the `check` cell: it says *right*, *close* or *wrong, and why*, from the model's own numbers.
// Stuck? `ws.hint("1.1")` prints a hint.
// %%
import { loadModel, workshop, softmax } from "lmprobe";

const model = await loadModel();
const ws = workshop(model);
const prompt = "The capital of France is";
// %% [markdown]
// ## Task 1.1 · Count the tokens
// Predict first: how many tokens will "The capital of France is" become? Then measure with `model.toTokens`.
// %%
const ids = model.toTokens(prompt);
console.log(ids, model.toStrTokens(prompt));
const tokenCount = /* solution */ ids.length /* end */;
await ws.check("1.1", tokenCount);
// %% [markdown]
// ## Task 1.2 · The prediction
// `model.run(prompt)` returns `logits` of shape [batch, positions, vocabulary]. Which token has the largest logit at
// the last position?
// %%
const run = model.run(prompt);
const logits = (await run.logits.array() as number[][][])[0];
const last = logits[logits.length - 1];
const topText = /* solution */ model.toStrTokens([last.indexOf(Math.max(...last))])[0] /* end */;
await ws.check("1.2", topText);
// %% [markdown]
// ## Task 1.3 · Its probability
// Softmax over the whole vocabulary: p = exp(logit) / Σ exp(logits). lmprobe's `softmax` runs it on the device.
// %%
const p = softmax(run.logits);
const probs = (await p.array()) as number[][][];
p.dispose();
run.dispose();
const pTop = /* solution */ Math.max(...probs[0][probs[0].length - 1]) /* end */;
await ws.check("1.3", pTop);
