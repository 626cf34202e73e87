// %% [markdown]
// # Workshop 4 · Activation patching: where does the country live?
//
// Run the model on a *corrupted* prompt ("… Japan is"), and copy in one activation from the *clean* run
// ("… France is"). If " Paris" comes back, that activation carried the country. The metric is the logit difference
// " Paris" − " Tokyo", normalised: 0 = the corrupted run, 1 = the clean run.
// %%
import { loadModel, workshop, activationPatching, show } from "lmprobe";

const model = await loadModel();
const ws = workshop(model);
// %%
const patch = await activationPatching(model, {
  clean: "The capital of France is", corrupted: "The capital of Japan is", answers: [" Paris", " Tokyo"],
  components: ["resid_pre", "z_all"],
});
show(patch);
const rows = patch.table.objects() as any[];
// %% [markdown]
// ## Task 4.1 · The residual stream at the country
// Look at `resid_pre` at the position of " France" (position 3). From which layer on does patching it no longer
// restore " Paris" (metric below 0.5)?
// %%
const atCountry = rows.filter((r) => r.component === "resid_pre" && r.position === 3).sort((a, b) => a.layer - b.layer);
const stopsAt = /* solution */ atCountry.find((r) => r.metric < 0.5).layer /* end */;
await ws.check("4.1", stopsAt);
// %% [markdown]
// ## Task 4.2 · The head that moves it
// `z_all` patches one head's output at every position. Which head restores the answer most?
// %%
const heads = rows.filter((r) => r.component === "z_all");
const top = heads.reduce((a, b) => (b.metric > a.metric ? b : a));
const bestHead = /* solution */ `L${top.layer}H${top.head}` /* end */;
await ws.check("4.2", bestHead);
