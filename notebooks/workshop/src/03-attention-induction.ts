// %% [markdown]
// # Workshop 3 · Attention patterns and induction
//
// An induction head finds an earlier occurrence of the current token and attends to the token that followed it,
// so a repeated list can be continued. The demo model was trained on lists like "tiger lamp river. tiger lamp".
// %%
import { loadModel, workshop, detectHeads, topHeads, headScoresChart, show, demoInductionPrompt, zeroAblate, INDUCTION_SEEDS } from "lmprobe";

const model = await loadModel();
const ws = workshop(model);
// %% [markdown]
// ## Task 3.1 · Find the induction head
// `detectHeads` scores every head on a repeated random sequence. Which head has the highest induction score?
// %%
const heads = await detectHeads(model);
show(headScoresChart(heads.table, { value: "induction" }));
const best = /* solution */ topHeads(heads.table, "induction", 1)[0] /* end */;
await ws.check("3.1", best);
// %% [markdown]
// ## Task 3.2 · Induction accuracy
// For each seed in `INDUCTION_SEEDS`, `demoInductionPrompt(seed, { k: 6, cut: 3 })` gives six nouns, then the first
// three again; `expected` is the fourth. How often is the model's top prediction the expected noun?
// %%
function accuracy(hooks = {}) {
  let right = 0;
  for (const seed of INDUCTION_SEEDS) {
    const p = demoInductionPrompt(seed, { k: 6, cut: 3 });
    const run = model.runWithHooks(p.text, hooks, { lastPositionOnly: true });
    const row = Array.from(run.logits.dataSync());
    run.dispose();
    if (model.toStrTokens([row.indexOf(Math.max(...row))])[0] === p.expected) right++;
  }
  return right / INDUCTION_SEEDS.length;
}
const clean = /* solution */ accuracy() /* end */;
await ws.check("3.2", clean);
// %% [markdown]
// ## Task 3.3 · Knock out one head
// Predict first: if head 5 of layer 0 is zero-ablated (`zeroAblate("blocks.0.attn.hook_z", { head: 5 })`), what
// accuracy remains? Is the behaviour in the head with the highest induction score?
// %%
const ablated = /* solution */ accuracy(zeroAblate("blocks.0.attn.hook_z", { head: 5 })) /* end */;
await ws.check("3.3", ablated);
