// Activations layer by layer: a histogram of each layer's residual stream (binned on the device over one range
// shared by all layers, so the layers compare), mean |activation|, and how sparse each dense MLP's neurons are
// (the share of mlp.hook_post entries with |x| below a threshold), with the neurons that push the predicted
// token most (direct logit attribution's neuron table).
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { finiteRange, histogram } from "../tensor/histogram";
import { directLogitAttribution } from "./direct-logit-attribution";
import { residualHookNames } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import type { ProbeInput, ProbeModel } from "./types";

/** Bins, sparsity threshold and neuron count of layerActivations(). */
export interface LayerActivationsOptions {
  /** Histogram bins (default 50). */
  bins?: number;
  /** |x| below this counts as an inactive MLP neuron (default 0.01). */
  sparsityThreshold?: number;
  /** Neurons listed by contribution to the predicted token (default 10; 0 skips that pass). */
  topNeurons?: number;
  prependBos?: boolean;
}

/** layerActivations()'s histogram, per-layer and neuron tables. */
export interface LayerActivationsResult {
  /** layer, bin, lower, upper, count: layer 0 is the embedding output, layer l + 1 block l's output. */
  histogram: Table;
  /** layer, mean_abs, std, max_abs, mlp_sparsity, mlp_mean_abs (MLP columns null at layer 0 and for MoE blocks). */
  layers: Table;
  /** layer, neuron, activation, contribution: the predicted token's top neurons (empty for models without dense MLPs). */
  neurons: Table;
}

/** Histograms, mean magnitudes and MLP sparsity of the residual stream layer by layer, and the neurons that push the prediction. */
export async function layerActivations(model: ProbeModel, input: ProbeInput, options: LayerActivationsOptions = {}): Promise<LayerActivationsResult> {
  const bins = options.bins ?? 50;
  const threshold = options.sparsityThreshold ?? 0.01;
  if (!(threshold >= 0)) throw new ArgumentError("sparsityThreshold", `is ${threshold}`, "use a non-negative magnitude");
  const L = model.config.numLayers;
  const resid = residualHookNames(L);
  const mlpPost = (l: number) => `blocks.${l}.mlp.hook_post`;
  const names = new Set([...resid, ...Array.from({ length: L }, (_, l) => mlpPost(l))]);
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  const held: tf.Tensor[] = [];
  try {
    const streams = resid.map((n) => run.cache.get(n));
    const ranges = streams.map((s) => finiteRange(s));
    const min = tf.tidy(() => tf.min(tf.stack(ranges.map((r) => r.min)))) as tf.Scalar;
    const max = tf.tidy(() => tf.max(tf.stack(ranges.map((r) => r.max)))) as tf.Scalar;
    held.push(...ranges.flatMap((r) => [r.min, r.max]), min, max);
    const hists = streams.map((s) => histogram(s, bins, { min, max }));
    held.push(...hists.flatMap((h) => [h.counts, h.min, h.max, h.nonFinite]));
    const moments = streams.map((s) =>
      tf.tidy(() => {
        const abs = tf.abs(s);
        return tf.stack([tf.mean(abs), tf.sqrt(tf.moments(s).variance), tf.max(abs)]);
      }),
    );
    held.push(...moments);
    const mlp = Array.from({ length: L }, (_, l) =>
      run.cache.has(mlpPost(l))
        ? tf.tidy(() => {
            const abs = tf.abs(run.cache.get(mlpPost(l)));
            return tf.stack([tf.mean(tf.cast(tf.less(abs, threshold), "float32")), tf.mean(abs)]);
          })
        : null,
    );
    held.push(...mlp.filter((t): t is tf.Tensor => t !== null));
    const [lo, hi] = [(await min.data())[0], (await max.data())[0]];
    const width = (hi - lo) / bins;
    const histogramTable = new ColumnBuilder(["layer", "bin", "lower", "upper", "count"] as const);
    const layers = new ColumnBuilder(["layer", "mean_abs", "std", "max_abs", "mlp_sparsity", "mlp_mean_abs"] as const);
    for (let layer = 0; layer <= L; layer++) {
      const counts = await hists[layer].counts.data();
      counts.forEach((count, bin) => histogramTable.push({ layer, bin, lower: lo + bin * width, upper: lo + (bin + 1) * width, count }));
      const [meanAbs, std, maxAbs] = await moments[layer].data();
      const m = layer > 0 ? mlp[layer - 1] : null;
      const [sparsity, mlpMeanAbs] = m ? await m.data() : [null, null];
      layers.push({ layer, mean_abs: meanAbs, std, max_abs: maxAbs, mlp_sparsity: sparsity, mlp_mean_abs: mlpMeanAbs });
    }
    const topNeurons = options.topNeurons ?? 10;
    const neurons =
      topNeurons > 0 ? (await directLogitAttribution(model, input, { topNeurons, prependBos: options.prependBos })).neurons : new ColumnBuilder(["layer", "neuron", "activation", "contribution"] as const).table();
    return { histogram: histogramTable.table(), layers: layers.table(), neurons };
  } finally {
    tf.dispose(held);
    run.dispose();
  }
}
