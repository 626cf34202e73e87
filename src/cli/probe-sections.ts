// The analyses of `lmprobe probe`, each turned into a report section of charts and tables.
import type { LanguageModel } from "../model/model";
import type { ProbeInput } from "../probe/types";
import {
  detectHeads, directLogitAttribution, HEAD_SCORES, layerSimilarity, logitLens, moeRouting, residualNorms,
  tokenProbabilities, type HeadScore,
} from "../probe";
import {
  attentionChart, concatCharts, entropyChart, expertLoadChart, expertRoutingChart, headAttributionChart, headScoresChart,
  logitAttributionChart, logitLensChart, residualNormChart, similarityChart, targetTrajectoryChart, tokenProbsChart,
} from "../display/charts";
import * as aq from "arquero";
import { attentionHeadsChart, attentionOverviewChart, rankHeads, type AttentionStack } from "../display/charts/attention-stack";
import type { ReportSection } from "../display/report";
import { attentionData } from "./attention-data";

/** Heads whose full pattern the report draws (the most focused: lowest mean entropy). */
const TOP_HEADS = 6;
/** Up to this many cells (layers × heads × T²) the report also draws every head as vector charts with tooltips. */
const VECTOR_ATTENTION_CELLS = 20_000;
import { tokenAttributionSection } from "./attribution-section";

export interface ProbeSettings {
  prompt: ProbeInput;
  k: number;
  targets: string[];
  /** Integrated gradients' steps in the token attribution; undefined: 64 within the report's budget, else 0. */
  attributionSteps?: number;
  /** Reports progress of each analysis as it starts (for the terminal bar). */
  onStage?: (stage: string) => void;
}

/** The analyses, in the order probeSections runs them (for the terminal's progress bar). */
export function probeStages(model: LanguageModel): string[] {
  return [
    "logit lens", "token probabilities", "layer similarity", "residual norms", "attention", "head detection", "logit attribution", "token attribution",
    ...(model.config.moe ? ["MoE routing"] : []),
  ];
}

const HEAD_SCORE_TITLES: Record<HeadScore, string> = {
  previous_token: "Previous token",
  first_token: "First token (attention sink)",
  induction: "Induction",
  duplicate_token: "Duplicate token",
};

export async function probeSections(model: LanguageModel, settings: ProbeSettings): Promise<ReportSection[]> {
  const { prompt, k } = settings;
  const stage = settings.onStage ?? (() => undefined);
  const sections: ReportSection[] = [];

  stage("logit lens");
  const lens = await logitLens(model, prompt, { k, targets: settings.targets.length ? settings.targets : undefined });
  sections.push({
    title: "Logit lens",
    intro: "Each cell decodes the residual stream after a layer with the model's own final norm and unembedding: the text is the most likely next token, the colour its probability. Read a column upwards to watch the prediction form.",
    items: [
      logitLensChart(lens.table),
      entropyChart(lens.table),
      ...(lens.trajectory ? [targetTrajectoryChart(lens.trajectory)] : []),
      // The prediction for the token after the prompt, as it forms layer by layer (all k candidates).
      { table: lens.table.params({ last: lens.positions[lens.positions.length - 1] }).filter((d: { position: number }, $: { last: number }) => d.position === $.last), options: { maxRows: 200, caption: "Candidates for the next token after the prompt, by layer" } },
    ],
  });

  // Non-finite numbers in the forward pass make every section below wrong: say so first, and where they began.
  if (lens.nonFinite) {
    sections.unshift({ title: "Warning: non-finite values", intro: `${lens.nonFinite.message}. Every section below is affected.`, items: [] });
  }

  stage("token probabilities");
  const probs = await tokenProbabilities(model, prompt, { k });
  sections.push({
    title: "Token probabilities",
    intro: "For each position, the model's candidates for the token that follows, ranked; ✓ marks the token that actually follows in the prompt.",
    items: [tokenProbsChart(probs.alternatives), probs.table],
  });

  stage("layer similarity");
  const similarity = await layerSimilarity(model, prompt);
  sections.push({
    title: "Layer similarity",
    intro: "Cosine similarity between the residual streams after each layer (layer 0 is the embedding output).",
    items: [similarityChart(similarity.table, { scope: "last" }), similarityChart(similarity.table, { scope: "flat" })],
  });

  stage("residual norms");
  const norms = await residualNorms(model, prompt);
  sections.push({ title: "Residual norms", intro: "The L2 norm of the residual stream at each position, layer by layer.", items: [residualNormChart(norms.table), norms.summary] });

  stage("attention");
  const attention = await attentionData(model, prompt);
  const { stack } = attention;
  const focused = rankHeads(attention.summary, "entropy", TOP_HEADS, "ascending");
  const small = stack.layers.length * stack.heads * stack.queries * stack.keys <= VECTOR_ATTENTION_CELLS;
  sections.push({
    title: "Attention",
    intro:
      "Attention patterns (rows: the query position, columns: the key position it reads from). First every head at a glance (on long prompts each thumbnail cell is the largest weight of its block), then the full pattern of the most focused heads (lowest mean entropy; the selector shows one at a time), then the per-head summary." +
      (stack.keys > 128 ? ` The full patterns show the last 128 of ${stack.keys} positions; the first column sums the attention on every earlier key.` : ""),
    items: [
      attentionOverviewChart(stack),
      attentionHeadsChart(stack, focused, { title: `Most focused heads (lowest entropy): ${focused.map((h) => `L${h.layer} H${h.head}`).join(", ")}` }),
      ...(small ? stack.layers.map((layer) => attentionChart(stackTable(stack, layer), { layer, inputTokens: stack.tokens })) : []),
      { table: attention.summary, options: { maxRows: 400, tokenColumns: [], caption: "Per head: mean entropy (nats) and mean attention on the first token, on itself and on the previous token" } },
    ],
  });

  stage("head detection");
  const heads = await detectHeads(model);
  sections.push({
    title: "Attention head types",
    intro:
      "Each head scored on a sequence whose second half repeats its first (the demo's own word list for the demo model, random tokens otherwise): the mean attention it pays to the previous token, to the first token (an attention sink), to the token after an earlier occurrence of the current one (induction), and to earlier occurrences themselves (duplicate token). 1 means all of its attention.",
    items: [
      concatCharts(
        HEAD_SCORES.map((score) => headScoresChart(heads.table, { value: score, scoreTitle: "score", domain: [0, 1], title: `${HEAD_SCORE_TITLES[score]} score per head` })),
        { columns: 2, summary: `Head type scores (${HEAD_SCORES.join(", ")}) for ${model.config.numLayers} layers × ${model.config.numHeads} heads` },
      ),
      // The score columns end in "_token" but hold numbers, not token text.
      { table: heads.table, options: { maxRows: 400, tokenColumns: [], caption: "Scores per head (mean attention on the keys each score names)" } },
    ],
  });

  stage("logit attribution");
  const dla = await directLogitAttribution(model, prompt);
  sections.push({
    title: "Direct logit attribution",
    intro: `What each component writes directly into the logit of the predicted next token ${JSON.stringify(dla.target.token)} at the last position, read through the final norm (its scale from this prompt) and the unembedding. The pieces sum to ${dla.total.toFixed(3)}; the model's logit is ${dla.modelLogit.toFixed(3)}${model.config.finalLogitSoftcap ? " (after the final softcap)" : ""}.`,
    items: [
      logitAttributionChart(dla.components, { target: dla.target.token }),
      ...(dla.heads.numRows() > 0 ? [headAttributionChart(dla.heads, { target: dla.target.token })] : []),
      ...(dla.neurons.numRows() > 0 ? [{ table: dla.neurons, options: { caption: `MLP neurons writing most into ${JSON.stringify(dla.target.token)}` } }] : []),
    ],
  });

  stage("token attribution");
  sections.push(await tokenAttributionSection(model, prompt, settings.attributionSteps));

  if (model.config.moe) {
    stage("MoE routing");
    const routing = await moeRouting(model, prompt);
    sections.push({
      title: "MoE routing",
      intro: "Which experts each token is sent to at each layer, and how the load spreads over the experts.",
      items: [expertRoutingChart(routing.routing), expertLoadChart(routing.load, { value: "fraction" }), routing.layers],
    });
  }
  return sections;
}

/** The long pattern table of one layer (for the small-prompt vector charts). */
function stackTable(stack: AttentionStack, layer: number) {
  const li = stack.layers.indexOf(layer);
  const { heads: H, queries: Q, keys: K } = stack;
  const offset = K - Q;
  const rows: Array<Record<string, unknown>> = [];
  for (let h = 0; h < H; h++) {
    for (let q = 0; q < Q; q++) {
      for (let k = 0; k <= q + offset; k++) rows.push({ layer, head: h, query: q, key: k, weight: stack.patterns[li][(h * Q + q) * K + k], key_token: stack.tokens[k] });
    }
  }
  return aq.from(rows);
}
