// The report's token-attribution section: which prompt tokens the top prediction rests on, by saliency,
// input × gradient and integrated gradients (with the completeness check stated).
import type { LanguageModel } from "../model/model";
import { tokenAttribution } from "../probe/token-attribution";
import { GradientMemoryError } from "../errors";
import type { ReportSection } from "../display/report";
import { tokenAttributionResultChart } from "../display/charts/token-attribution";
import type { ProbeInput } from "../probe/types";

/** Interpolation rows × positions per gradient pass: keeps the tape of a long prompt within a wasm heap. */
const ROWS_TIMES_POSITIONS = 1024;

export async function tokenAttributionSection(model: LanguageModel, prompt: ProbeInput): Promise<ReportSection> {
  const T = model.toTokens(prompt).length;
  let r;
  try {
    r = await tokenAttribution(model, prompt, { batchSize: Math.max(1, Math.min(16, Math.floor(ROWS_TIMES_POSITIONS / T))) });
  } catch (err) {
    if (!(err instanceof GradientMemoryError)) throw err;
    return { title: "Token attribution", items: [{ note: `Not computed: ${err.message.split("\n")[0]}. ${err.fix ?? ""}` }] };
  }
  const c = r.completeness;
  return {
    title: "Token attribution",
    intro:
      `Which prompt tokens the top prediction ${JSON.stringify(r.target!.token)} rests on, for its log-probability at the last position: saliency (the norm of the gradient at each token's embedding), ` +
      `input × gradient (the embedding's dot product with it) and integrated gradients (${r.steps} steps from the padding token's embedding). ` +
      `Integrated gradients sum to ${c.sum.toFixed(4)}; f(prompt) − f(baseline) = ${c.expected.toFixed(4)} (relative error ${c.relativeError.toExponential(1)}). Each row is scaled by its largest magnitude.`,
    items: [tokenAttributionResultChart(r), { table: r.table, options: { caption: "Attribution per input token" } }],
  };
}
