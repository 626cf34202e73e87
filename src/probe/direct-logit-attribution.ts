// Direct logit attribution: how much each component writes, directly, into one token's logit (or the
// difference of two tokens' logits) at one position. As TransformerLens's approximation, the final norm is
// linearised with its scale from this run (1/√(mean r² + ε), or 1/√(var r + ε) for LayerNorm, r the final
// residual): each component c contributes s · (c − mean c)·(g ⊙ W_U[:, t]), and the pieces plus the norm's and
// unembedding's biases sum exactly to the logit before any final softcap. Heads split the attention output
// through W_O (b_O stays with the layer); neurons split a dense MLP output through W_out.
import * as tf from "@tensorflow/tfjs-core";
import { weightMatMulTransposed, weightVector } from "../backend/packed-weight";
import type { NormWeights } from "../model/canonical";
import { ColumnBuilder, type Table } from "./table";
import { resolvePositions, resolveTokenId, type TokenSpec } from "./tokens";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";
import { checkBatch } from "./residual-rows";
import { ArgumentError } from "../errors";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** Options of directLogitAttribution(): target and baseline tokens, position, top neurons, batch row. */
export interface DlaOptions {
  /** Token whose logit is attributed (default: the model's top prediction at the position). */
  target?: TokenSpec;
  /** When given, attribute logit(target) − logit(baseline). */
  baseline?: TokenSpec;
  /** Position (default the last; negative counts from the end). */
  position?: number;
  /** How many neurons to list, by |contribution| over all layers (default 20). */
  topNeurons?: number;
  batch?: number;
  prependBos?: boolean;
}

/** What directLogitAttribution() returns: contributions per component, per head and per neuron. */
export interface DlaResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** component ("embed" | "attn" | "mlp" | "bias"), layer (null for embed and bias), contribution. */
  components: Table;
  /** layer, head, contribution: for blocks whose attention output is not normalised again (no post-attention norm). */
  heads: Table;
  /** layer, neuron, activation, contribution: the top neurons of dense MLPs without a post-MLP norm. */
  neurons: Table;
  target: { id: number; token: string };
  baseline: { id: number; token: string } | null;
  position: number;
  /** Σ of the components: the logit (difference) before any final softcap. */
  total: number;
  /** The model's own logit (difference) at that position, after any final softcap. */
  modelLogit: number;
  /** The final norm's scale s at that position. */
  scale: number;
}

/** The hook names directLogitAttribution() reads for this model. */
export function dlaHooks(model: ProbeModel): string[] {
  const L = model.config.numLayers;
  const names = ["blocks.0.hook_resid_pre", `blocks.${L - 1}.hook_resid_post`];
  model.weights.blocks.forEach((b, l) => {
    names.push(`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`);
    if (!b.postAttnNorm) names.push(`blocks.${l}.attn.hook_z`);
    if (b.mlp.kind === "dense" && !b.postMlpNorm) names.push(`blocks.${l}.mlp.hook_post`);
  });
  return names;
}

/** Each layer's, head's and top neurons' direct contribution to a target logit, through the final norm's scale. */
export async function directLogitAttribution(model: ProbeModel, input: ProbeInput, options: DlaOptions = {}): Promise<DlaResult> {
  const names = new Set(dlaHooks(model));
  // Logits are needed at one position only: the last unless another is asked for.
  const lastOnly = options.position === undefined || options.position === -1;
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: lastOnly });
  try {
    const b = options.batch ?? 0;
    checkBatch(b, run.tokens.length);
    const top = options.topNeurons ?? 20;
    if (!Number.isInteger(top) || top < 0) throw new ArgumentError("topNeurons", `is ${top}`, "use a whole number ≥ 0");
    const tokens = run.tokens[b];
    const [position] = resolvePositions([options.position ?? -1], tokens.length);
    const row = tf.tidy(() => tf.reshape(tf.slice(run.logits, [b, lastOnly ? run.logits.shape[1] - 1 : position, 0], [1, 1, run.logits.shape[2]]), [-1]));
    const logits = await row.data();
    row.dispose();
    const target = options.target !== undefined ? resolveTokenId(model, options.target) : argmax(logits);
    const baseline = options.baseline !== undefined ? resolveTokenId(model, options.baseline, "baseline") : null;
    const modelLogit = logits[target] - (baseline === null ? 0 : logits[baseline]);
    return await withNonFiniteCheck(await dlaFromCache(model, run.cache, { ...options, position, target, baseline, modelLogit }), model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** The attribution from a cache holding dlaHooks(model). */
export async function dlaFromCache(
  model: ProbeModel,
  cache: CacheLike,
  o: { position: number; target: number; baseline: number | null; modelLogit?: number; topNeurons?: number; batch?: number },
): Promise<DlaResult> {
  const w = model.weights;
  const L = w.nLayers;
  const b = o.batch ?? 0;
  const at = (name: string) => tf.reshape(tf.slice(cache.get(name), [b, o.position, 0], [1, 1, -1]), [-1]);
  const parts = tf.tidy(() => {
    const { direction, bias } = unembedDirection(model, o.target, o.baseline);
    const resid = at(`blocks.${L - 1}.hook_resid_post`);
    const scale = normScale(resid, w.lnFinal);
    const dot = (v: tf.Tensor) => tf.mul(tf.sum(tf.mul(v, direction)), scale);
    const components = tf.stack([
      dot(at("blocks.0.hook_resid_pre")),
      ...Array.from({ length: L }, (_, l) => dot(at(`blocks.${l}.hook_attn_out`))),
      ...Array.from({ length: L }, (_, l) => dot(at(`blocks.${l}.hook_mlp_out`))),
    ]);
    const heads = w.blocks.map((blk, l) => {
      if (blk.postAttnNorm || !cache.has(`blocks.${l}.attn.hook_z`)) return null;
      w.layerWeights?.acquire(l); // a streamed model holds only two blocks' weights at a time
      const { nHeads, W_O } = blk.attn;
      const dHead = W_O.shape[0] / nHeads; // z's width: the values' (narrower than q/k in multi-head latent attention)
      const z = tf.reshape(tf.slice(cache.get(`blocks.${l}.attn.hook_z`), [b, o.position, 0, 0], [1, 1, nHeads, dHead]), [nHeads, dHead]);
      const through = tf.reshape(weightMatMulTransposed(tf.reshape(direction, [1, -1]) as tf.Tensor2D, W_O), [nHeads, dHead]);
      return tf.mul(tf.sum(tf.mul(z, through), 1), scale);
    });
    const neurons = w.blocks.map((blk, l) => {
      if (blk.mlp.kind !== "dense" || blk.postMlpNorm || !cache.has(`blocks.${l}.mlp.hook_post`)) return null;
      const post = at(`blocks.${l}.mlp.hook_post`);
      w.layerWeights?.acquire(l);
      const through = tf.reshape(weightMatMulTransposed(tf.reshape(direction, [1, -1]) as tf.Tensor2D, blk.mlp.W_out), [-1]);
      return tf.stack([post, tf.mul(tf.mul(post, through), scale)]);
    });
    return { components, bias, scale, heads, neurons } as unknown as tf.TensorContainer;
  }) as unknown as { components: tf.Tensor; bias: tf.Tensor; scale: tf.Tensor; heads: (tf.Tensor | null)[]; neurons: (tf.Tensor | null)[] };
  try {
    const [comp, bias, scale] = await Promise.all([parts.components.data(), parts.bias.data(), parts.scale.data()]);
    const componentRows = new ColumnBuilder(["component", "layer", "contribution"] as const);
    componentRows.push({ component: "embed", layer: null, contribution: comp[0] });
    for (let l = 0; l < L; l++) {
      componentRows.push({ component: "attn", layer: l, contribution: comp[1 + l] });
      componentRows.push({ component: "mlp", layer: l, contribution: comp[1 + L + l] });
    }
    componentRows.push({ component: "bias", layer: null, contribution: bias[0] });
    const headRows = new ColumnBuilder(["layer", "head", "contribution"] as const);
    for (const [l, t] of parts.heads.entries()) if (t) (await t.data()).forEach((v, h) => headRows.push({ layer: l, head: h, contribution: v }));
    const neuronList: { layer: number; neuron: number; activation: number; contribution: number }[] = [];
    for (const [l, t] of parts.neurons.entries()) {
      if (!t) continue;
      const [act, contrib] = (await t.array()) as number[][];
      contrib.forEach((v, n) => neuronList.push({ layer: l, neuron: n, activation: act[n], contribution: v }));
    }
    neuronList.sort((a, c) => Math.abs(c.contribution) - Math.abs(a.contribution));
    const neuronRows = new ColumnBuilder(["layer", "neuron", "activation", "contribution"] as const);
    neuronList.slice(0, o.topNeurons ?? 20).forEach((r) => neuronRows.push(r));
    const [targetText, baselineText] = model.toStrTokens(o.baseline === null ? [o.target] : [o.target, o.baseline]);
    return {
      components: componentRows.table(),
      heads: headRows.table(),
      neurons: neuronRows.table(),
      target: { id: o.target, token: targetText },
      baseline: o.baseline === null ? null : { id: o.baseline, token: baselineText },
      position: o.position,
      total: Array.from(comp).reduce((s, v) => s + v, 0) + bias[0],
      modelLogit: o.modelLogit ?? NaN,
      scale: scale[0],
    };
  } finally {
    tf.dispose([parts.components, parts.bias, parts.scale, ...parts.heads.filter((t): t is tf.Tensor => !!t), ...parts.neurons.filter((t): t is tf.Tensor => !!t)]);
  }
}

/**
 * The direction a final-normed vector is read along for the target (minus baseline), with the norm's gain folded
 * in and, for LayerNorm, centred (so (c − mean c)·u = c·(u − mean u)); and the constant part of the logit: the
 * norm's bias read along W_U plus b_U. Call inside tf.tidy.
 */
function unembedDirection(model: ProbeModel, target: number, baseline: number | null): { direction: tf.Tensor1D; bias: tf.Tensor } {
  const { W_U, b_U } = model.weights.unembed;
  const column = (id: number) => (W_U ? weightVector(W_U, 1, id) : weightVector(model.weights.embed.W_E, 0, id));
  const biasOf = (id: number) => (b_U ? tf.reshape(tf.slice(b_U, [id], [1]), []) : tf.scalar(0));
  let u: tf.Tensor = column(target);
  let unembedBias: tf.Tensor = biasOf(target);
  if (baseline !== null) {
    u = tf.sub(u, column(baseline));
    unembedBias = tf.sub(unembedBias, biasOf(baseline));
  }
  const norm = model.weights.lnFinal;
  const normBias = norm?.bias ? tf.sum(tf.mul(norm.bias, u)) : tf.scalar(0);
  if (norm?.weight) u = tf.mul(u, norm.weightOffset ? tf.add(norm.weight, norm.weightOffset) : norm.weight);
  if (norm?.kind === "layer") u = tf.sub(u, tf.mean(u));
  // Granite's logits_scaling divides the whole logit, so every contribution and the constant part with it.
  const divisor = model.weights.unembed.divisor;
  if (divisor) return { direction: tf.div(u, divisor) as tf.Tensor1D, bias: tf.div(tf.add(normBias, unembedBias), divisor) };
  return { direction: u as tf.Tensor1D, bias: tf.add(normBias, unembedBias) };
}

/** The final norm's scale for residual `r` [d]: 1/√(mean r² + ε) (RMS) or 1/√(var r + ε) (LayerNorm); 1 without a norm. */
function normScale(r: tf.Tensor, norm: NormWeights | null): tf.Tensor {
  if (!norm) return tf.scalar(1);
  const x = norm.kind === "layer" ? tf.sub(r, tf.mean(r)) : r;
  return tf.rsqrt(tf.add(tf.mean(tf.square(x)), norm.eps));
}
