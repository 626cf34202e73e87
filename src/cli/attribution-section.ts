// The report's token-attribution section: which prompt tokens the top prediction rests on, by saliency,
// input × gradient and integrated gradients (with the completeness check stated), the last within a budget of work
// (attributionSteps): past it the section says so and how to ask for them.
import type { LanguageModel } from "../model/model";
import { tokenAttribution } from "../probe/token-attribution";
import { GradientMemoryError } from "../errors";
import type { ReportSection } from "../display/report";
import { tokenAttributionResultChart } from "../display/charts/token-attribution";
import type { ProbeInput } from "../probe/types";
import { prefillFlops } from "../probe/model-overview";
import { capability } from "../backend/capabilities";

/** Interpolation rows × positions per gradient pass: keeps the tape of a long prompt within a wasm heap. */
const ROWS_TIMES_POSITIONS = 1024;

/** Integrated gradients' steps where the budget allows (tokenAttribution's default). */
const DEFAULT_STEPS = 64;

/**
 * Floating-point operations the report spends on integrated gradients by default: (steps + 1) forward and backward
 * passes over the prompt, each about three forward passes' matmul FLOPs. On a host backend 10^13, about a minute
 * and a half on this project's 2-core VM (cpu-native ran a 1B model's forward at ~100 GFLOP/s): GPT-2-small over 128
 * tokens takes 6·10^12 with 64 steps; a 1B model over 636 tokens 2.5·10^14 (its report was still in them after 20
 * minutes there, when it was stopped; ~40 minutes at the rate it ran), where its whole report without them took
 * 3.5 minutes (`lmprobe probe` on bench/packed-load.ts's mid checkpoint). On a GPU backend forty times that.
 */
export const ATTRIBUTION_FLOP_BUDGET = { host: 1e13, gpu: 4e14 };

/** The steps the report's integrated gradients take: `asked`, else DEFAULT_STEPS where that fits the budget, else 0. */
export function attributionSteps(model: LanguageModel, positions: number, asked?: number): { steps: number; flops: number; budget: number } {
  const budget = capability("computesOnGpu") ? ATTRIBUTION_FLOP_BUDGET.gpu : ATTRIBUTION_FLOP_BUDGET.host;
  const flops = 3 * (DEFAULT_STEPS + 1) * prefillFlops(model, positions);
  return { steps: asked ?? (flops <= budget ? DEFAULT_STEPS : 0), flops, budget };
}

/** `asked`: integrated gradients' steps (lmprobe probe --attribution-steps); undefined for attributionSteps' rule. */
export async function tokenAttributionSection(model: LanguageModel, prompt: ProbeInput, asked?: number): Promise<ReportSection> {
  const T = model.toTokens(prompt).length;
  const plan = attributionSteps(model, T, asked);
  let r;
  try {
    r = await tokenAttribution(model, prompt, { steps: plan.steps, batchSize: Math.max(1, Math.min(16, Math.floor(ROWS_TIMES_POSITIONS / T))) });
  } catch (err) {
    if (!(err instanceof GradientMemoryError)) throw err;
    return { title: "Token attribution", items: [{ note: `Not computed: ${err.message.split("\n")[0]}. ${err.fix ?? ""}` }] };
  }
  const c = r.completeness;
  const what = `Which prompt tokens the top prediction ${JSON.stringify(r.target!.token)} rests on, for its log-probability at the last position: saliency (the norm of the gradient at each token's embedding), `;
  const intro = c
    ? what +
      `input × gradient (the embedding's dot product with it) and integrated gradients (${r.steps} steps from the padding token's embedding). ` +
      `Integrated gradients sum to ${c.sum.toFixed(4)}; f(prompt) − f(baseline) = ${c.expected.toFixed(4)} (relative error ${c.relativeError.toExponential(1)}). Each row is scaled by its largest magnitude.`
    : what + `and input × gradient (the embedding's dot product with it). Each row is scaled by its largest magnitude.`;
  const left = c || asked !== undefined
    ? []
    : [{ note: `Integrated gradients left out: ${DEFAULT_STEPS} steps are ${DEFAULT_STEPS + 1} forward and backward passes over ${T} tokens, about ${plan.flops.toExponential(1)} floating-point operations, past the report's budget of ${plan.budget.toExponential(0)} on this backend. \`lmprobe probe --attribution-steps ${DEFAULT_STEPS}\` computes them anyway; in a notebook, tokenAttribution(model, prompt, { steps: ${DEFAULT_STEPS} }).` }];
  return {
    title: "Token attribution",
    intro,
    items: [...left, tokenAttributionResultChart(r), { table: r.table, options: { caption: "Attribution per input token" } }],
  };
}
