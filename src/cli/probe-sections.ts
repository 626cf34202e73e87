// The analyses of `lmprobe probe`, each turned into a report section. Attention and MoE routing are read
// straight from the activation cache (hook_pattern, hook_expert_indices/weights) into small tables.
import * as aq from "arquero";
import type { LanguageModel } from "../model/model";
import { logitLens } from "../probe/logit-lens";
import { tokenProbabilities } from "../probe/token-probs";
import { layerSimilarity } from "../probe/layer-similarity";
import { residualNorms } from "../probe/residual";
import {
  attentionChart, entropyChart, expertLoadChart, expertRoutingChart, logitLensChart, residualNormChart,
  similarityChart, targetTrajectoryChart, tokenProbsChart,
} from "../display/charts";
import type { ReportSection } from "../display/report";
import type { TableLike } from "../display/table-html";

export interface ProbeSettings {
  prompt: string;
  k: number;
  targets: string[];
  /** Reports progress of each analysis as it starts (for the terminal bar). */
  onStage?: (stage: string) => void;
}

/** Attention patterns of every layer and head as a long table: layer, head, query, key, weight. */
export function attentionTable(model: LanguageModel, prompt: string): TableLike {
  const names = Array.from({ length: model.config.numLayers }, (_, l) => `blocks.${l}.attn.hook_pattern`);
  const run = model.run(prompt, { cache: names });
  try {
    const cols = { layer: [] as number[], head: [] as number[], query: [] as number[], key: [] as number[], weight: [] as number[] };
    names.forEach((name, layer) => {
      const pattern = run.cache.get(name).arraySync() as number[][][][]; // [batch, head, query, key]
      pattern[0].forEach((rows, head) =>
        rows.forEach((row, query) =>
          row.forEach((weight, key) => {
            if (key > query) return; // causal: nothing above the diagonal
            cols.layer.push(layer); cols.head.push(head); cols.query.push(query); cols.key.push(key); cols.weight.push(weight);
          }),
        ),
      );
    });
    return aq.table(cols);
  } finally {
    run.dispose();
  }
}

/** Expert choices of every layer and token: layer, position, input_token, slot, expert, weight. */
export function routingTable(model: LanguageModel, prompt: string): TableLike {
  const L = model.config.numLayers;
  const names = Array.from({ length: L }, (_, l) => [`blocks.${l}.mlp.hook_expert_indices`, `blocks.${l}.mlp.hook_expert_weights`]).flat();
  const run = model.run(prompt, { cache: names });
  try {
    const strTokens = model.toStrTokens(run.tokens[0]);
    const rows: Record<string, unknown>[] = [];
    for (let layer = 0; layer < L; layer++) {
      const indices = run.cache.get(`blocks.${layer}.mlp.hook_expert_indices`).arraySync() as number[][][];
      const weights = run.cache.get(`blocks.${layer}.mlp.hook_expert_weights`).arraySync() as number[][][];
      indices[0].forEach((chosen, position) =>
        chosen.forEach((expert, slot) => rows.push({ layer, position, input_token: strTokens[position], slot, expert, weight: weights[0][position][slot], count: 1 })),
      );
    }
    return aq.from(rows);
  } finally {
    run.dispose();
  }
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
    items: [logitLensChart(lens.table), entropyChart(lens.table), ...(lens.trajectory ? [targetTrajectoryChart(lens.trajectory)] : []), { table: lens.table, options: { maxRows: 40 } }],
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
  const attention = attentionTable(model, prompt);
  const strTokens = model.toStrTokens(prompt);
  sections.push({
    title: "Attention",
    intro: "Attention patterns (rows: the query position, columns: the key position it reads from), one panel per head.",
    items: Array.from({ length: model.config.numLayers }, (_, layer) => attentionChart(attention, { layer, inputTokens: strTokens })),
  });

  if (model.config.moe) {
    stage("MoE routing");
    const routing = routingTable(model, prompt);
    sections.push({
      title: "MoE routing",
      intro: "Which experts each token is sent to at each layer, and how the load spreads over the experts.",
      items: [expertRoutingChart(routing), expertLoadChart(routing, { value: "count" })],
    });
  }
  return sections;
}
