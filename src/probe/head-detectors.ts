// Head-type detection scores from attention patterns: how much each head attends to the previous token, to
// the first token (attention sink), to the token after the previous occurrence of the current token
// (induction) and to earlier occurrences of the current token (duplicate). Each score is the mean, over the
// queries where it is defined, of the attention on the keys it names: one [H, Q·K] × [Q·K, 4] matmul per layer.
import * as tf from "@tensorflow/tfjs-core";
import { throwIfAborted } from "../errors";
import { patternHook, patternOf, resolveLayers } from "./attention";
import { defaultInductionSequence } from "./induction-prompts";
import { ColumnBuilder, type Table } from "./table";
import type { CacheLike, LongProbeOptions, ProbeInput, ProbeModel } from "./types";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

export const HEAD_SCORES = ["previous_token", "first_token", "induction", "duplicate_token"] as const;
/** A head detector: previous-token, first-token, induction or duplicate-token. */
export type HeadScore = (typeof HEAD_SCORES)[number];

/** Options of detectHeads(): the sequence scored on, its seed, layers, progress and abort. */
export interface HeadDetectorOptions extends LongProbeOptions {
  /** The sequence to score on (default: defaultInductionSequence — the demo's own format for the demo model). */
  sequence?: ProbeInput;
  /** Seed of the default sequence. */
  seed?: number;
  layers?: number[];
  prependBos?: boolean;
}

/** What detectHeads() returns: one row of scores per head, and the tokens scored on. */
export interface HeadDetectorResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** layer, head, previous_token, first_token, induction, duplicate_token. */
  table: Table;
  tokens: number[];
}

/**
 * [4, Q·K] weights: row s spreads 1/|queries of s| over the (query, key) cells score s reads. Queries are the
 * positions of `tokens`; keys the same positions (no key/value cache).
 */
export function headScoreMasks(tokens: number[]): Float32Array {
  const T = tokens.length;
  const m = new Float32Array(4 * T * T);
  const cells: [number, number][][] = [[], [], [], []];
  for (let q = 1; q < T; q++) {
    cells[0].push([q, q - 1]);
    cells[1].push([q, 0]);
    const earlier = [];
    for (let j = 0; j < q; j++) if (tokens[j] === tokens[q]) earlier.push(j);
    // Induction reads the token after each earlier occurrence (when that is not the previous token itself).
    const after = earlier.map((j) => j + 1).filter((k) => k < q);
    if (after.length > 0) cells[2].push(...after.map((k) => [q, k] as [number, number]), [q, -1]);
    if (earlier.length > 0) cells[3].push(...earlier.map((k) => [q, k] as [number, number]), [q, -1]);
  }
  cells.forEach((list, s) => {
    // [q, -1] entries only mark a counted query (for the mean over queries).
    const queries = s < 2 ? list.length : list.filter(([, k]) => k === -1).length;
    for (const [q, k] of list) if (k >= 0 && queries > 0) m[s * T * T + q * T + k] += 1 / queries;
  });
  return m;
}

/** Scores of every head of `layers` from a cache holding their patterns, for the sequence `tokens`. */
export async function headScoresFromCache(cache: CacheLike, layers: number[], tokens: number[], options: LongProbeOptions & { batch?: number } = {}): Promise<Table> {
  const T = tokens.length;
  const masks = tf.tensor2d(headScoreMasks(tokens), [4, T * T]);
  const table = new ColumnBuilder(["layer", "head", ...HEAD_SCORES] as const);
  try {
    for (const [i, layer] of layers.entries()) {
      throwIfAborted(options.signal, "head detection");
      const p = patternOf(cache, layer, options.batch ?? 0);
      const scores = tf.tidy(() => tf.matMul(tf.reshape(p, [p.shape[0], T * T]), masks, false, true));
      p.dispose();
      const values = (await scores.array()) as number[][];
      scores.dispose();
      values.forEach((s, head) => table.push({ layer, head, previous_token: s[0], first_token: s[1], induction: s[2], duplicate_token: s[3] }));
      options.onProgress?.({ stage: "head detection", done: i + 1, total: layers.length });
    }
  } finally {
    masks.dispose();
  }
  return table.table();
}

/** Runs the model on the detector sequence with every pattern cached and scores every head. */
export async function detectHeads(model: ProbeModel, options: HeadDetectorOptions = {}): Promise<HeadDetectorResult> {
  const layers = resolveLayers(options.layers, model.config.numLayers);
  const names = new Set(layers.map(patternHook));
  const sequence = options.sequence ?? defaultInductionSequence(model, options.seed ?? 0);
  const run = model.run(sequence, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const tokens = run.tokens[0];
    return await withNonFiniteCheck({ table: await headScoresFromCache(run.cache, layers, tokens, options), tokens }, model, run, sequence, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** The `n` heads with the highest `score`, as [layer, head] pairs. */
export function topHeads(table: Table, score: HeadScore, n: number): [number, number][] {
  return (table.objects() as Record<string, number>[])
    .sort((a, b) => b[score] - a[score] || a.layer - b.layer || a.head - b.head)
    .slice(0, n)
    .map((r) => [r.layer, r.head]);
}
