// The run-overview sections of `lmprobe probe`'s report (the MLXLMProbe tabs): model overview, prompt sections,
// layer activations, embeddings, logits, attention by distance, MoE balance, generation replay and, with a second
// prompt, the comparison of the two runs.
import type { LanguageModel } from "../model/model";
import {
  attentionDistance, compareRuns, embeddingPca, generationProbabilities, layerActivations, logitDistribution, modelOverview,
  moeInsights, moeRouting, promptSections, quickStats, withSections,
} from "../probe";
import {
  attentionDistanceChart, comparisonChart, generationReplayChart, headDistanceChart, histogramChart, moeBalanceChart, parameterChart,
  pcaChart,
} from "../display/charts";
import type { ReportSection } from "../display/report";

export interface OverviewSettings {
  prompt: string;
  /** A second prompt to compare with (same length, or compared on the positions they share from the end). */
  compare?: string;
  /** Tokens to generate for the replay (0 leaves the section out). */
  generate: number;
  onStage?: (stage: string) => void;
}

export function overviewStages(model: LanguageModel, settings: Pick<OverviewSettings, "compare" | "generate">): string[] {
  return [
    "overview", "layer activations", "embeddings", "logits", "attention distance",
    ...(model.config.moe ? ["MoE balance"] : []), ...(settings.generate > 0 ? ["generation"] : []), ...(settings.compare ? ["comparison"] : []),
  ];
}

export async function overviewSections(model: LanguageModel, settings: OverviewSettings): Promise<ReportSection[]> {
  const stage = settings.onStage ?? (() => undefined);
  const { prompt } = settings;
  const sections: ReportSection[] = [];
  const T = model.toTokens(prompt).length;

  stage("overview");
  const overview = modelOverview(model, { positions: T });
  const stats = await quickStats(model, prompt);
  const parts = promptSections(model, prompt);
  sections.push({
    title: "Run overview",
    intro: `${stats.summary}. ${overview.totalParameters.toLocaleString("en")} parameters${overview.isMoe ? ` (${Math.round(overview.activeParameters).toLocaleString("en")} active per token)` : ""}; FLOPs count matrix multiplications for this ${T}-token prompt and for one more token decoded after it.`,
    items: [
      { table: overview.config, options: { maxRows: 40, caption: "Configuration" } },
      parameterChart(overview.parameters),
      { table: overview.flops, options: { caption: "FLOPs by component" } },
      { table: overview.tokenizer, options: { caption: "Tokenizer" } },
      { table: parts.spans, options: { caption: "Prompt sections (reasoning between <think> markers)" } },
    ],
  });

  stage("layer activations");
  const acts = await layerActivations(model, prompt);
  sections.push({
    title: "Layer activations",
    intro: "The residual stream after each layer, binned on the device over one range shared by all layers; the MLP columns give the share of neurons near zero (|x| < 0.01) and their mean magnitude.",
    items: [histogramChart(acts.histogram, { facet: "layer", title: "Residual stream by layer", x: "activation" }), acts.layers, ...(acts.neurons.numRows() ? [{ table: acts.neurons, options: { caption: "Neurons writing most into the predicted token" } }] : [])],
  });

  stage("embeddings");
  if (T >= 3) {
    const pca = await embeddingPca(model, prompt, { components: 2 });
    sections.push({
      title: "Embeddings",
      intro: `The tokens' representations after the last layer on their two principal components (${pca.components.objects().map((c) => `${(((c as { explained_ratio: number }).explained_ratio) * 100).toFixed(1)} %`).join(" and ")} of the variance), coloured by prompt section.`,
      items: [pcaChart(withSections(pca.scores, parts.sections), { color: "section" })],
    });
  }

  stage("logits");
  const dist = await logitDistribution(model, prompt);
  sections.push({
    title: "Logits",
    intro: "The whole next-token distribution after the prompt: raw logits and log-probabilities over the entire vocabulary.",
    items: [histogramChart(dist.histogram, { facet: "kind", title: "Next-token logits and log-probabilities" }), dist.stats],
  });

  stage("attention distance");
  if (T >= 2) {
    const ad = await attentionDistance(model, prompt);
    sections.push({
      title: "Attention by distance",
      intro: "How far back each head looks, from the exact patterns: the distances holding 50 % and 90 % of its attention and a class (very local ≤ 2 tokens, local ≤ 8, global when half lies beyond 8, else mixed); labels mark heads on the last 3 tokens (recent) and near-uniform ones (diffuse).",
      items: [headDistanceChart(ad.heads), attentionDistanceChart(ad.profile, { layer: model.config.numLayers - 1, maxDistance: Math.min(T - 1, 32) }), { table: ad.heads, options: { maxRows: 400, tokenColumns: [] } }],
    });
  }

  if (model.config.moe) {
    stage("MoE balance");
    const insights = moeInsights(await moeRouting(model, prompt), { sections: parts.sections });
    sections.push({
      title: "MoE balance",
      intro: "Load balance per layer (normalised load entropy; the auxiliary-loss proxy E·Σ fᵢ·Pᵢ, k for even routing), each expert's status, and the tokens each expert takes.",
      items: [moeBalanceChart(insights.balance), insights.balance, { table: insights.experts, options: { maxRows: 400, tokenColumns: [] } }, { table: insights.specialisation, options: { maxRows: 400 } }],
    });
  }

  if (settings.generate > 0) {
    stage("generation");
    const gen = await generationProbabilities(model, prompt, { maxNewTokens: settings.generate, k: 5 });
    sections.push({
      title: "Generation replay",
      intro: `Greedy continuation of ${settings.generate} tokens: ${JSON.stringify(model.toText(gen.newTokens))}. Move the slider to see the alternatives at each step.`,
      items: [generationReplayChart(gen)],
    });
  }

  if (settings.compare) {
    stage("comparison");
    const cmp = await compareRuns(model, prompt, settings.compare, { align: "end" });
    sections.push({
      title: "Two prompts compared",
      intro: `The residual streams of the prompt and of ${JSON.stringify(settings.compare)}, compared at the positions they share counted from the end.`,
      items: [comparisonChart(cmp.table), comparisonChart(cmp.table, { value: "cosine" }), cmp.summary],
    });
  }
  return sections;
}
