// The logit lens: every layer's residual stream (the embedding output and each block's output, before the
// final norm) read through the final norm and the unembedding, as if the model stopped there. Reduced on the
// device one layer and one vocabulary chunk at a time; only the top-k, the entropy and the targets come back.
//
// The reference's hidden_states[-1] already has the final norm applied; the lens here reads the cached
// blocks.{L-1}.hook_resid_post, which has not, so the norm is applied exactly once at every layer.
import * as tf from "@tensorflow/tfjs-core";
import { throwIfAborted } from "../errors";
import { lensReduce, type LensStats } from "../tensor/lens-reduce";
import { lensHeadOf } from "./lens-head";
import { checkBatch, residualHookNames, selectRows } from "./residual-rows";
import * as aq from "arquero";
import type { Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import { resolvePositions, resolveTokenIds, type TokenSpec } from "./tokens";
import type { CacheLike, LongProbeOptions, ProbeInput, ProbeModel } from "./types";
import { ArgumentError } from "../errors";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** Streams the lens can read: the residual stream, or what each block's attention / MLP adds to it. */
export type LensStream = "resid_post" | "attn_out" | "mlp_out";

/** Options of logitLens(): positions, k, target tokens, streams, batch row, progress and abort. */
export interface LogitLensOptions extends LongProbeOptions {
  /** Positions to read: "all" (default), "last", or indices (negative from the end). */
  positions?: number[] | "all" | "last";
  /** Top tokens kept per layer and position (default 5). */
  k?: number;
  /** Tokens whose rank and probability to follow through the layers: ids or single-token texts. */
  targets?: TokenSpec | TokenSpec[];
  /** Default ["resid_post"]. attn_out / mlp_out rows carry layer l + 1 for block l, aligned with resid_post. */
  streams?: LensStream[];
  /** Batch entry of the cache (default 0). */
  batch?: number;
  vocabChunk?: number;
  rowChunk?: number;
  prependBos?: boolean;
}

/** What logitLens() returns: the top-k table, the entropy table, target trajectories and the tokens. */
export interface LogitLensResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** layer, stream, position, input_token, rank, token_id, token, prob, logprob, entropy: k rows per layer and position. */
  table: Table;
  /** layer, stream, position, input_token, entropy, top_token, top_prob: one row per layer and position. */
  entropy: Table;
  /** layer, stream, position, target, target_id, rank, prob, logprob; null without targets. */
  trajectory: Table | null;
  tokens: number[];
  strTokens: string[];
  positions: number[];
  /** Raw per-row results, one entry per (stream, layer) in table order. */
  stats: { stream: LensStream; layer: number; stats: LensStats }[];
}

const HOOK_OF: Record<Exclude<LensStream, "resid_post">, string> = { attn_out: "hook_attn_out", mlp_out: "hook_mlp_out" };

/** Hook names a lens over `streams` needs cached. */
export function logitLensHooks(nLayers: number, streams: LensStream[] = ["resid_post"]): string[] {
  const known = ["resid_post", ...Object.keys(HOOK_OF)];
  for (const s of streams) {
    if (!known.includes(s)) throw new ArgumentError("streams", `holds ${JSON.stringify(s)}`, `use any of ${known.map((k) => `"${k}"`).join(", ")}`);
  }
  return streams.flatMap((s) =>
    s === "resid_post" ? residualHookNames(nLayers) : Array.from({ length: nLayers }, (_, l) => `blocks.${l}.${HOOK_OF[s]}`),
  );
}

/** Runs the model on `input` with the residual stream cached, then the lens. */
export async function logitLens(model: ProbeModel, input: ProbeInput, options: LogitLensOptions = {}): Promise<LogitLensResult> {
  const hooks = new Set(logitLensHooks(model.config.numLayers, options.streams));
  const run = model.run(input, { cache: (name) => hooks.has(name), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    checkBatch(options.batch ?? 0, run.tokens.length);
    return await withNonFiniteCheck(await logitLensFromCache(model, run.cache, run.tokens[options.batch ?? 0], options), model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** The lens over an existing cache (which must hold the hooks of logitLensHooks) for the sequence `tokens`. */
export async function logitLensFromCache(model: ProbeModel, cache: CacheLike, tokens: number[], options: LogitLensOptions = {}): Promise<LogitLensResult> {
  const L = model.config.numLayers;
  const positions = resolvePositions(options.positions, tokens.length);
  const targets = resolveTokenIds(model, options.targets);
  const k = options.k ?? 5;
  const head = lensHeadOf(model);
  const entries = (options.streams ?? ["resid_post"]).flatMap((stream) => {
    const names = logitLensHooks(L, [stream]);
    return names.map((hook, i) => ({ stream, hook, layer: stream === "resid_post" ? i : i + 1 }));
  });

  // The rows of every layer go through the reduction together, so that each row chunk (2048 rows by default)
  // reads the unembedding once for many layers. This one [layers · positions, d] copy is the probe's second
  // copy of the residual stream.
  throwIfAborted(options.signal, "logit lens");
  const P = positions.length;
  const rows = tf.tidy(() => tf.concat(entries.map((e) => selectRows(cache.get(e.hook), options.batch ?? 0, positions)), 0)) as tf.Tensor2D;
  let all: LensStats;
  try {
    all = await lensReduce(rows, {
      ...head,
      k,
      targets,
      vocabChunk: options.vocabChunk,
      rowChunk: options.rowChunk,
      signal: options.signal,
      // Only a caller that observes progress gets it: a progress callback makes lensReduce split the rows into
      // ~8 chunks (so that progress and cancelling act during the lens), each paying the per-chunk fixed costs.
      onProgress: options.onProgress ? (done, total) => options.onProgress?.({ stage: "logit lens", done: Math.floor((done / total) * entries.length), total: entries.length }) : undefined,
    });
  } finally {
    rows.dispose();
  }
  const stats: LogitLensResult["stats"] = entries.map((e, i) => ({ stream: e.stream, layer: e.layer, stats: sliceStats(all, i * P, (i + 1) * P) }));
  return lensTables(model, tokens, positions, targets, stats);
}

function lensTables(model: ProbeModel, tokens: number[], positions: number[], targets: number[], stats: LogitLensResult["stats"]): LogitLensResult {
  const text = tokenTextLookup(model, tokens, targets, ...stats.map((s) => s.stats.topIds));
  const strTokens = tokens.map(text);
  // Columns are filled in place, one column at a time over typed arrays sized up front: building the rows as objects
  // cost ~1 µs a row (39 ms for the 33 280 rows of GPT-2-small at 512 positions, plus the garbage), and filling
  // every column of a row in one loop turn ~0.2 µs (0.6 ms of the demo model's 14 ms probe); a column at a time, the
  // numbers are block copies and fills.
  const P = positions.length;
  const T = targets.length;
  const nTop = stats.reduce((n, { stats: s }) => n + P * s.k, 0);
  const nRows = stats.length * P;
  const top = {
    layer: new Int32Array(nTop), stream: new Array<string>(nTop), position: new Int32Array(nTop), input_token: new Array<string>(nTop),
    rank: new Int32Array(nTop), token_id: new Int32Array(nTop), token: new Array<string>(nTop),
    prob: new Float64Array(nTop), logprob: new Float64Array(nTop), entropy: new Float64Array(nTop),
  };
  const ent = {
    layer: new Int32Array(nRows), stream: new Array<string>(nRows), position: new Int32Array(nRows), input_token: new Array<string>(nRows),
    entropy: new Float64Array(nRows), top_token: new Array<string | null>(nRows), top_prob: new Array<number | null>(nRows),
  };
  const traj = {
    layer: new Int32Array(nRows * T), stream: new Array<string>(nRows * T), position: new Int32Array(nRows * T), target: new Array<string>(nRows * T),
    target_id: new Int32Array(nRows * T), rank: new Int32Array(nRows * T), prob: new Float64Array(nRows * T), logprob: new Float64Array(nRows * T),
  };
  const targetTexts = targets.map(text);
  const inputTokens = positions.map((p) => strTokens[p]);
  let q = 0; // first row of this entry in `top`
  let e = 0; // … in `ent`
  let g = 0; // … in `traj`
  for (const { stream, layer, stats: s } of stats) {
    // Every table's rows of this entry carry its layer and stream.
    const label = (table: { layer: Int32Array; stream: string[] }, from: number, n: number) => {
      table.layer.fill(layer, from, from + n);
      table.stream.fill(stream, from, from + n);
    };
    const k = s.k;
    const nq = P * k;
    label(top, q, nq);
    top.token_id.set(s.topIds, q);
    top.prob.set(s.topProbs, q);
    top.logprob.set(s.topLogprobs, q);
    for (let r = 0, at = q; r < P; r++) {
      const position = positions[r];
      const input_token = inputTokens[r];
      const entropy = s.entropy[r];
      for (let j = 0; j < k; j++, at++) {
        top.position[at] = position;
        top.input_token[at] = input_token;
        top.rank[at] = j + 1;
        top.entropy[at] = entropy;
        top.token[at] = text(s.topIds[at - q]);
      }
    }
    label(ent, e, P);
    ent.position.set(positions, e);
    ent.entropy.set(s.entropy, e);
    for (let r = 0; r < P; r++) {
      ent.input_token[e + r] = inputTokens[r];
      ent.top_token[e + r] = k > 0 ? text(s.topIds[r * k]) : null;
      ent.top_prob[e + r] = k > 0 ? s.topProbs[r * k] : null;
    }
    if (T > 0) {
      label(traj, g, P * T);
      traj.rank.set(s.targetRanks, g);
      traj.prob.set(s.targetProbs, g);
      traj.logprob.set(s.targetLogprobs, g);
      for (let r = 0, at = g; r < P; r++) {
        for (let j = 0; j < T; j++, at++) {
          traj.position[at] = positions[r];
          traj.target[at] = targetTexts[j];
          traj.target_id[at] = targets[j];
        }
      }
    }
    q += nq;
    e += P;
    g += P * T;
  }
  return {
    table: aq.table(top),
    entropy: aq.table(ent),
    trajectory: T > 0 ? aq.table(traj) : null,
    tokens,
    strTokens,
    positions,
    stats,
  };
}

/** Rows [from, to) of a reduction's results. */
function sliceStats(s: LensStats, from: number, to: number): LensStats {
  const k = s.k;
  const t = s.targets;
  return {
    rows: to - from,
    k,
    targets: t,
    topIds: s.topIds.slice(from * k, to * k),
    topProbs: s.topProbs.slice(from * k, to * k),
    topLogprobs: s.topLogprobs.slice(from * k, to * k),
    logSumExp: s.logSumExp.slice(from, to),
    entropy: s.entropy.slice(from, to),
    targetLogprobs: s.targetLogprobs.slice(from * t, to * t),
    targetProbs: s.targetProbs.slice(from * t, to * t),
    targetRanks: s.targetRanks.slice(from * t, to * t),
  };
}
