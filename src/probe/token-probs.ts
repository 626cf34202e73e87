// Token probabilities and alternatives: at every position, how probable the model found the token that
// actually follows (prompt or generated), its surprisal, the top-k alternatives, and a confidence band.
// Computed from the last layer through the fused lens reduction (= the model's own next-token distribution),
// so no [positions, vocab] probability tensor is kept.
import { ArgumentError } from "../errors";
import type { GenerateOptions } from "../model/generate";
import { lensReduce } from "../tensor/lens-reduce";
import { lensHeadOf } from "./lens-head";
import { selectRows } from "./residual-rows";
import { ColumnBuilder, type Table } from "./table";
import { tokenTextLookup } from "./token-texts";
import type { LongProbeOptions, ProbeInput, ProbeModel } from "./types";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** Options of tokenProbabilities(): alternatives kept, prompt length, confidence bands. */
export interface TokenProbsOptions extends LongProbeOptions {
  /** Alternatives kept per position (default 5). */
  k?: number;
  /** Tokens before this index are the prompt, the rest were generated (marks the `generated` column). */
  promptLength?: number;
  /** Probability thresholds of the confidence bands (default high ≥ 0.5, medium ≥ 0.1, else low). */
  bands?: { high: number; medium: number };
  prependBos?: boolean;
  vocabChunk?: number;
}

/** What tokenProbabilities() returns: one row per next-token prediction, and its top-k alternatives. */
export interface TokenProbsResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  /** position, input_token, next_token, next_token_id, prob, logprob, surprisal_bits, rank, entropy, band, generated:
   *  one row per position that has a next token (the prediction made at `position` for position + 1). */
  table: Table;
  /** position, input_token, rank, token_id, token, prob, logprob, actual: k candidates per position. */
  alternatives: Table;
  tokens: number[];
  strTokens: string[];
}

/** A chosen token's probability in words: high (≥ 0.5), medium (≥ 0.1) or low. */
export type ConfidenceBand = "high" | "medium" | "low";

export function confidenceBand(prob: number, bands = { high: 0.5, medium: 0.1 }): ConfidenceBand {
  return prob >= bands.high ? "high" : prob >= bands.medium ? "medium" : "low";
}

/** Probabilities of each next token of `input` (a prompt, or a prompt + generated continuation). */
export async function tokenProbabilities(model: ProbeModel, input: ProbeInput, options: TokenProbsOptions = {}): Promise<TokenProbsResult> {
  const last = `blocks.${model.config.numLayers - 1}.hook_resid_post`;
  const run = model.run(input, { cache: [last], prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const tokens = run.tokens[0];
    if (tokens.length < 2) throw new ArgumentError("input", `has ${tokens.length} token(s)`, "give at least two tokens: each is scored as the prediction of the one before");
    const positions = Array.from({ length: tokens.length - 1 }, (_, i) => i);
    const rows = selectRows(run.cache.get(last), 0, positions);
    const k = options.k ?? 5;
    let stats;
    try {
      stats = await lensReduce(rows, {
        ...lensHeadOf(model),
        k,
        targets: positions.map((p) => [tokens[p + 1]]),
        vocabChunk: options.vocabChunk,
        signal: options.signal,
        onProgress: (done, total) => options.onProgress?.({ stage: "token probabilities", done, total }),
      });
    } finally {
      rows.dispose();
    }
    const text = tokenTextLookup(model, tokens, stats.topIds);
    const strTokens = tokens.map(text);
    const promptLength = options.promptLength ?? tokens.length;
    const table = new ColumnBuilder(["position", "input_token", "next_token", "next_token_id", "prob", "logprob", "surprisal_bits", "rank", "entropy", "band", "generated"] as const);
    const alternatives = new ColumnBuilder(["position", "input_token", "rank", "token_id", "token", "prob", "logprob", "actual"] as const);
    for (const p of positions) {
      const next = tokens[p + 1];
      table.push({
        position: p,
        input_token: strTokens[p],
        next_token: strTokens[p + 1],
        next_token_id: next,
        prob: stats.targetProbs[p],
        logprob: stats.targetLogprobs[p],
        surprisal_bits: -stats.targetLogprobs[p] / Math.LN2,
        rank: stats.targetRanks[p],
        entropy: stats.entropy[p],
        band: confidenceBand(stats.targetProbs[p], options.bands),
        generated: p + 1 >= promptLength,
      });
      for (let j = 0; j < k; j++) {
        const id = stats.topIds[p * k + j];
        alternatives.push({ position: p, input_token: strTokens[p], rank: j + 1, token_id: id, token: text(id), prob: stats.topProbs[p * k + j], logprob: stats.topLogprobs[p * k + j], actual: id === next });
      }
    }
    return await withNonFiniteCheck({ table: table.table(), alternatives: alternatives.table(), tokens, strTokens }, model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}

/** Generates a continuation of `prompt`, then scores every token, prompt and generated (column `generated`). */
export async function generationProbabilities(
  model: ProbeModel,
  prompt: ProbeInput,
  options: TokenProbsOptions & Pick<GenerateOptions, "maxNewTokens" | "temperature" | "topK" | "seed"> = {},
): Promise<TokenProbsResult & { newTokens: number[] }> {
  const promptIds = model.toTokens(prompt, { prependBos: options.prependBos });
  const gen = await model.generate([promptIds], { maxNewTokens: options.maxNewTokens, temperature: options.temperature, topK: options.topK, seed: options.seed });
  const tokens = gen.tokens[0];
  const newTokens = gen.newTokens[0];
  gen.dispose();
  const result = await tokenProbabilities(model, tokens, { ...options, promptLength: promptIds.length, prependBos: false });
  return { ...result, newTokens };
}
