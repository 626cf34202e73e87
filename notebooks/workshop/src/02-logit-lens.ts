// %% [markdown]
// # Workshop 2 · The logit lens: where does " Paris" appear?
//
// The logit lens decodes the residual stream after each layer as if it were the last: final norm, then the
// unembedding. Layer 0 is the embedding output; layer l is the output of block l.
// %%
import { loadModel, workshop, logitLens, show, targetTrajectoryChart, entropyChart } from "lmprobe";

const model = await loadModel();
const ws = workshop(model);
// %%
const lens = await logitLens(model, "The capital of France is", { k: 5, targets: [" Paris"] });
const lastPosition = lens.strTokens.length - 1;
const atLast = (lens.trajectory!.objects() as any[]).filter((r) => r.position === lastPosition);
show(targetTrajectoryChart(lens.trajectory!, { position: lastPosition, metric: "rank" }));
// %% [markdown]
// ## Task 2.1 · First at the top
// After which layer is " Paris" first the model's top prediction at the last position?
// %%
const firstTop = /* solution */ atLast.find((r) => r.rank === 1).layer /* end */;
await ws.check("2.1", firstTop);
// %% [markdown]
// ## Task 2.2 · From the embedding alone
// Predict first: at layer 0 the lens sees only the embedding of " is". What rank does " Paris" have there?
// %%
const rankAtZero = /* solution */ atLast.find((r) => r.layer === 0).rank /* end */;
await ws.check("2.2", rankAtZero);
// %% [markdown]
// ## Task 2.3 · Uncertainty
// The entropy of each decoded distribution (in nats). At which layer is it highest at the last position?
// %%
show(entropyChart(lens.entropy));
const entropies = (lens.entropy.objects() as any[]).filter((r) => r.position === lastPosition).map((r) => r.entropy);
const peakLayer = /* solution */ entropies.indexOf(Math.max(...entropies)) /* end */;
await ws.check("2.3", peakLayer);
