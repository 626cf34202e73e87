// The token representations at one layer, seen from above: their principal components (computed on the device,
// tensor/pca.ts) and the dimensions of the residual stream that vary most across the prompt's tokens.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { pca, type PcaOptions } from "../tensor/pca";
import { residualHookNames } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { ProbeInput, ProbeModel } from "./types";

/** Layer, components and dimensions of embeddingPca(). */
export interface EmbeddingPcaOptions extends PcaOptions {
  /** Residual stream entry: 0 = the embedding output, l + 1 = block l's output (default: the last block's). */
  layer?: number;
  /** Principal components (default 2). */
  components?: number;
  /** Highest-variance dimensions in the heatmap table (default 16). */
  topDimensions?: number;
  prependBos?: boolean;
}

/** embeddingPca()'s scores, components and top-dimension tables. */
export interface EmbeddingPcaResult {
  /** position, input_token, pc1, pc2, …: each token's coordinates. */
  scores: Table;
  /** component, variance, explained_ratio. */
  components: Table;
  /** position, input_token, dimension, value: the top-variance dimensions of each token's vector. */
  dimensions: Table;
  layer: number;
}

export function checkLayerIndex(layer: number, nLayers: number, argument = "layer"): void {
  if (!Number.isInteger(layer) || layer < 0 || layer > nLayers) {
    throw new ArgumentError(argument, `is ${layer}`, `use 0 (the embedding output) … ${nLayers} (the last block's output)`);
  }
}

/** Principal components of the token representations at one layer, computed on the device, and their top-variance dimensions. */
export async function embeddingPca(model: ProbeModel, input: ProbeInput, options: EmbeddingPcaOptions = {}): Promise<EmbeddingPcaResult> {
  const L = model.config.numLayers;
  const layer = options.layer ?? L;
  checkLayerIndex(layer, L);
  const k = options.components ?? 2;
  const name = residualHookNames(L)[layer];
  const run = model.run(input, { cache: [name], prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const tokens = run.tokens[0];
    const text = tokenTextLookup(model, tokens);
    const x = tf.tidy(() => tf.squeeze(tf.slice(run.cache.get(name), [0, 0, 0], [1, -1, -1]), [0])) as tf.Tensor2D;
    try {
      const result = await pca(x, k, options);
      const top = Math.min(options.topDimensions ?? 16, x.shape[1]);
      if (!Number.isInteger(top) || top < 1) throw new ArgumentError("topDimensions", `is ${options.topDimensions}`, "use a whole number ≥ 1");
      const { dims, values } = tf.tidy(() => {
        const variance = tf.moments(x, 0).variance;
        const chosen = tf.topk(variance, top).indices;
        return { dims: chosen, values: tf.gather(x, chosen, 1) };
      });
      const [dimIds, vals] = await Promise.all([dims.data(), values.data()]);
      tf.dispose([dims, values]);
      const pcs = Array.from({ length: k }, (_, i) => `pc${i + 1}`);
      const scores = new ColumnBuilder(["position", "input_token", ...pcs]);
      result.scores.forEach((row, position) => scores.push({ position, input_token: text(tokens[position]), ...Object.fromEntries(pcs.map((p, i) => [p, row[i]])) }));
      const components = new ColumnBuilder(["component", "variance", "explained_ratio"] as const);
      result.variance.forEach((v, i) => components.push({ component: i + 1, variance: v, explained_ratio: result.explainedRatio[i] }));
      const dimensions = new ColumnBuilder(["position", "input_token", "dimension", "value"] as const);
      tokens.forEach((id, position) => dimIds.forEach((dimension, j) => dimensions.push({ position, input_token: text(id), dimension, value: vals[position * top + j] })));
      return { scores: scores.table(), components: components.table(), dimensions: dimensions.table(), layer };
    } finally {
      x.dispose();
    }
  } finally {
    run.dispose();
  }
}
