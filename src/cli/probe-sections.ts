// The analyses of `lmprobe probe`, each turned into a report section of charts and tables.
import type { LanguageModel } from "../model/model";
import { attentionPatterns, layerSimilarity, logitLens, moeRouting, residualNorms, tokenProbabilities } from "../probe";
import {
  attentionChart, entropyChart, expertLoadChart, expertRoutingChart, logitLensChart, residualNormChart,
  similarityChart, targetTrajectoryChart, tokenProbsChart,
} from "../display/charts";
import type { ReportSection } from "../display/report";

export interface ProbeSettings {
  prompt: string;
  k: number;
  targets: string[];
  /** Reports progress of each analysis as it starts (for the terminal bar). */
  onStage?: (stage: string) => void;
}

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
  const attention = await attentionPatterns(model, prompt);
  sections.push({
    title: "Attention",
    intro: "Attention patterns (rows: the query position, columns: the key position it reads from), one panel per head.",
    items: [...Array.from({ length: model.config.numLayers }, (_, layer) => attentionChart(attention.patterns, { layer, inputTokens: attention.strTokens })), attention.summary],
  });

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
