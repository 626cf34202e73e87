// The residual stream's size through the layers: its norm at each layer and position, how much each block
// changes it (‖resid_post − resid_pre‖), and how large the attention and MLP contributions are.
import * as tf from "@tensorflow/tfjs-core";
import { norm } from "../tensor/norm";
import { checkBatch, residualHookNames } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { CacheLike, ProbeInput, ProbeModel } from "./types";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** What residualNorms() returns: the per-position table and the means over positions. */
export interface ResidualResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** layer, position, input_token, norm, delta_norm, attn_norm, mlp_norm: layer 0 is the embedding output, layer l + 1
   *  the output of block l, whose change and contributions it carries (null at layer 0). */
  table: Table;
  /** layer, norm, delta_norm, attn_norm, mlp_norm: means over positions. */
  summary: Table;
}

/** Hook names residualNorms needs cached. */
export function residualNormHooks(nLayers: number): string[] {
  const blocks = Array.from({ length: nLayers }, (_, l) => [`blocks.${l}.hook_attn_out`, `blocks.${l}.hook_mlp_out`]).flat();
  return [...residualHookNames(nLayers), ...blocks];
}

/**
 * Norms of the residual stream per layer and position, each block's change, and its attention and MLP
 * contributions.
 */
export async function residualNorms(model: ProbeModel, input: ProbeInput, options: { prependBos?: boolean } = {}): Promise<ResidualResult> {
  const names = new Set(residualNormHooks(model.config.numLayers));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const text = tokenTextLookup(model, run.tokens[0]);
    return await withNonFiniteCheck(await residualNormsFromCache(run.cache, model.config.numLayers, run.tokens[0].map(text)), model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** Norms from a cache holding residualNormHooks (attn_out / mlp_out are optional: their columns are then null). */
export async function residualNormsFromCache(cache: CacheLike, nLayers: number, strTokens: string[], batch = 0): Promise<ResidualResult> {
  const resid = residualHookNames(nLayers);
  checkBatch(batch, cache.get(resid[0]).shape[0]);
  const perPosition = (t: tf.Tensor) => tf.tidy(() => tf.reshape(norm(tf.gather(t, [batch]), { axis: -1 }), [-1]));
  const has = (n: string) => cache.names().includes(n);
  type Norms = { norms: tf.Tensor[]; deltas: tf.Tensor[]; attn: (tf.Tensor | null)[]; mlp: (tf.Tensor | null)[] };
  const { norms, deltas, attn, mlp } = tf.tidy(() => ({
    norms: resid.map((n) => perPosition(cache.get(n))),
    deltas: resid.slice(1).map((n, l) => perPosition(tf.sub(cache.get(n), cache.get(resid[l])))),
    attn: Array.from({ length: nLayers }, (_, l) => (has(`blocks.${l}.hook_attn_out`) ? perPosition(cache.get(`blocks.${l}.hook_attn_out`)) : null)),
    mlp: Array.from({ length: nLayers }, (_, l) => (has(`blocks.${l}.hook_mlp_out`) ? perPosition(cache.get(`blocks.${l}.hook_mlp_out`)) : null)),
  }) as unknown as tf.TensorContainer) as unknown as Norms;
  const all = [...norms, ...deltas, ...attn, ...mlp].filter((t): t is tf.Tensor => t !== null);
  try {
    const read = async (t: tf.Tensor | null) => (t ? Array.from(await t.data()) : null);
    const [n, dl, at, ml] = await Promise.all([norms, deltas, attn, mlp].map((ts) => Promise.all(ts.map(read))));
    const table = new ColumnBuilder(["layer", "position", "input_token", "norm", "delta_norm", "attn_norm", "mlp_norm"] as const);
    const summary = new ColumnBuilder(["layer", "norm", "delta_norm", "attn_norm", "mlp_norm"] as const);
    const mean = (v: number[] | null | undefined) => (v ? v.reduce((s, x) => s + x, 0) / v.length : null);
    n.forEach((row, layer) => {
      const block = layer - 1;
      row!.forEach((v: number, position: number) =>
        table.push({
          layer,
          position,
          input_token: strTokens[position] ?? null,
          norm: v,
          delta_norm: block >= 0 ? dl[block]![position] : null,
          attn_norm: block >= 0 && at[block] ? at[block]![position] : null,
          mlp_norm: block >= 0 && ml[block] ? ml[block]![position] : null,
        }),
      );
      summary.push({ layer, norm: mean(row), delta_norm: block >= 0 ? mean(dl[block]) : null, attn_norm: block >= 0 ? mean(at[block]) : null, mlp_norm: block >= 0 ? mean(ml[block]) : null });
    });
    return { table: table.table(), summary: summary.table() };
  } finally {
    tf.dispose(all);
  }
}
