// Causal tracing (Meng et al., "Locating and Editing Factual Associations in GPT", single-site): the subject's
// token embeddings get Gaussian noise (3 × the embedding standard deviation by default, seeded), which destroys
// the answer; then one (layer, position) state at a time is restored from the clean run. The indirect effect of
// a state is p(answer | noised, state restored) − p(answer | noised), averaged over noise samples. Every sample
// and every restored state is one batch row, so the trace runs in few forward passes.
import * as tf from "@tensorflow/tfjs-core";
import { float32Weight } from "../backend/packed-weight";
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import { tableOf, type Table } from "../probe/table";
import { resolveTokenId, type TokenSpec } from "../probe/tokens";
import type { LongProbeOptions } from "../probe/types";
import { checkBatchSize, runPatchedRows, type LogitsMetric, type PatchSite } from "./batched-forward";
import { gaussianNoise } from "./gaussian";
import { gridIndices } from "./activation-patching";
import { tokenSpan } from "./token-span";
import { withInputArgument } from "./input-argument";

/** A residual-stream state causalTrace() restores. */
export type TraceState = "resid_pre" | "resid_post" | "attn_out" | "mlp_out";

/** Options of causalTrace(): subject, answer, state traced, noise, samples, seed, batch size. */
export interface CausalTraceOptions extends LongProbeOptions {
  /** The subject: its text as it appears in the prompt ("France"), or its token positions. */
  subject: string | number[];
  /** Token whose probability is traced (default the clean run's top prediction at the last position). */
  answer?: TokenSpec;
  /** Which state is restored (default "resid_post": the output of each block). */
  state?: TraceState;
  /** Noise standard deviation in units of the embedding matrix's standard deviation (default 3). */
  noiseScale?: number;
  /** Noise samples averaged over (default 10). */
  samples?: number;
  /** Seed of the noise (default 0). */
  seed?: number;
  batchSize?: number;
  prependBos?: boolean;
}

/** What causalTrace() returns: the indirect effects as a table and matrix, and the baselines. */
export interface CausalTraceResult {
  /** What this result is, for show() and other consumers that dispatch on results (causalTraceChart draws it). */
  kind: "causal-trace";
  /** layer, position, input_token, subject (bool), prob (mean restored p(answer)), indirect_effect. */
  table: Table;
  /** Indirect effect [layer][position]. */
  matrix: number[][];
  /** p(answer) of the clean run, and of the noised run averaged over samples. */
  cleanProb: number;
  corruptedProb: number;
  answer: { id: number; token: string };
  subjectPositions: number[];
  /** Standard deviation of the noise added to each embedding coordinate. */
  noiseStd: number;
  state: TraceState;
  tokens: string[];
}

const STATE_HOOK: Record<TraceState, string> = { resid_pre: "hook_resid_pre", resid_post: "hook_resid_post", attn_out: "hook_attn_out", mlp_out: "hook_mlp_out" };

/**
 * ROME-style causal tracing: corrupts the subject's embeddings with seeded noise and restores each state at each
 * layer and position to find where the fact is carried.
 */
export async function causalTrace(model: LanguageModel, prompt: string | number[], options: CausalTraceOptions): Promise<CausalTraceResult> {
  if (!options || options.subject === undefined) throw new ArgumentError("subject", "is missing", 'name the subject: causalTrace(model, prompt, { subject: "France" })');
  const tokens = withInputArgument("prompt", () => model.toTokens(prompt, { prependBos: options.prependBos }));
  const texts = model.toStrTokens(tokens);
  const T = tokens.length;
  const subject = typeof options.subject === "string" ? tokenSpan(texts, options.subject) : gridIndices(options.subject, T, "subject");
  const state = options.state ?? "resid_post";
  if (!(state in STATE_HOOK)) throw new ArgumentError("state", `is ${JSON.stringify(state)}`, `use ${Object.keys(STATE_HOOK).join(", ")}`);
  const samples = options.samples ?? 10;
  if (!Number.isInteger(samples) || samples < 1) throw new ArgumentError("samples", `is ${samples}`, "use a positive integer");
  const noiseScale = options.noiseScale ?? 3;
  if (!(noiseScale >= 0 && Number.isFinite(noiseScale))) throw new ArgumentError("noiseScale", `is ${noiseScale}`, "use a non-negative number (3 as in ROME)");
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ArgumentError("seed", `is ${seed}`, "use an integer seed");
  const batchSize = checkBatchSize(options.batchSize, T);

  const L = model.nLayers;
  const d = model.weights.dModel;
  const hooks = Array.from({ length: L }, (_, l) => `blocks.${l}.${STATE_HOOK[state]}`);
  const noiseStd = noiseScale * (await embeddingStd(model));

  // The clean run: the states to restore, and p(answer) (the answer given, or the clean run's top token).
  const clean = model.run(tokens, { cache: hooks });
  try {
    const lastRow = tf.tidy(() => tf.softmax(clean.logits.slice([0, T - 1, 0], [1, 1, -1]).reshape([-1])));
    const probs = (await lastRow.data()) as Float32Array;
    lastRow.dispose();
    const answerId = options.answer !== undefined ? resolveTokenId(model, options.answer, "answer") : argmax(probs);
    const cleanProb = probs[answerId];
    const metric: LogitsMetric = (logits) => tf.tidy(() => tf.softmax(logits).gather([answerId], 1).reshape([-1]) as tf.Tensor1D);

    // Rows, sample by sample: the noised run, then each (layer, position) restored.
    const perSample = 1 + L * T;
    const rows: PatchSite[][] = [];
    for (let s = 0; s < samples; s++) {
      rows.push([]);
      for (let l = 0; l < L; l++) for (let p = 0; p < T; p++) rows.push([{ hook: hooks[l], positions: [p], heads: null }]);
    }
    const noise = Array.from({ length: samples }, (_, s) => gaussianNoise(subject.length * d, seed * 1000003 + s, noiseStd));
    const values = await runPatchedRows(model, tokens, rows, clean.cache, {
      metric,
      batchSize,
      chunkHooks: (ids) => ({ hook_embed: (embed) => tf.add(embed, noiseTensor(ids.map((r) => noise[Math.floor(r / perSample)]), subject, T, d)) }),
      onProgress: options.onProgress,
      signal: options.signal,
      stage: "causal tracing",
    });

    let corrupted = 0;
    const restored = Array.from({ length: L }, () => new Array<number>(T).fill(0));
    for (let s = 0; s < samples; s++) {
      const base = s * perSample;
      corrupted += values[base] / samples;
      for (let l = 0; l < L; l++) for (let p = 0; p < T; p++) restored[l][p] += values[base + 1 + l * T + p] / samples;
    }
    const matrix = restored.map((row) => row.map((v) => v - corrupted));
    const cells = restored.flatMap((row, l) => row.map((_, p) => ({ l, p })));
    const subjectSet = new Set(subject);
    const table = tableOf({
      layer: cells.map((c) => c.l),
      position: cells.map((c) => c.p),
      input_token: cells.map((c) => texts[c.p]),
      subject: cells.map((c) => subjectSet.has(c.p)),
      prob: cells.map((c) => restored[c.l][c.p]),
      indirect_effect: cells.map((c) => matrix[c.l][c.p]),
    });
    const answer = { id: answerId, token: model.toStrTokens([answerId])[0] };
    return {
      kind: "causal-trace",
      table,
      matrix,
      cleanProb,
      corruptedProb: corrupted,
      answer,
      subjectPositions: subject,
      noiseStd,
      state,
      tokens: texts,
    };
  } finally {
    clean.dispose();
  }
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Standard deviation of every entry of the token embedding matrix. */
async function embeddingStd(model: LanguageModel): Promise<number> {
  const std = tf.tidy(() => tf.sqrt(tf.moments(float32Weight(model.weights.embed.W_E)).variance));
  const [v] = await std.data();
  std.dispose();
  return v;
}

/** [rows, T, d] noise: each row's sample at the subject positions, zero elsewhere. */
function noiseTensor(perRow: Float32Array[], subject: number[], T: number, d: number): tf.Tensor {
  const out = new Float32Array(perRow.length * T * d);
  perRow.forEach((noise, r) => {
    subject.forEach((p, i) => out.set(noise.subarray(i * d, (i + 1) * d), (r * T + p) * d));
  });
  return tf.tensor3d(out, [perRow.length, T, d]);
}
