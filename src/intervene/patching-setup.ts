// What every patching call shares: a clean and a corrupted prompt of one token length, two answer tokens, the
// metric (logit difference at the last position unless given) and the run whose activations are patched in.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { ActivationCache } from "../model/cache";
import type { LanguageModel } from "../model/model";
import { resolveTokenId, type TokenSpec } from "../probe/tokens";
import type { LongProbeOptions } from "../probe/types";
import { checkBatchSize, type LogitsMetric } from "./batched-forward";
import { withInputArgument } from "./input-argument";

/** The clean and corrupted prompts, the answers and the metric that every patching experiment takes. */
export interface PatchingSetupOptions extends LongProbeOptions {
  /** Prompt whose run gives the right answer (text or ids). */
  clean: string | number[];
  /** Prompt of the same token length whose run gives another answer. */
  corrupted: string | number[];
  /** The clean answer, then the corrupted one: tokens (" Paris") or ids. Required unless `metric` is given. */
  answers?: [TokenSpec, TokenSpec];
  /** Per-row metric of the last position's logits [rows, vocab] → [rows]; default logit(answers[0]) − logit(answers[1]). */
  metric?: LogitsMetric;
  /** "denoise" (default): clean activations patched into the corrupted run; "noise": corrupted into the clean run. */
  direction?: "denoise" | "noise";
  /** Rows per forward pass (default: about 4096 tokens per pass). */
  batchSize?: number;
  prependBos?: boolean;
}

export interface PatchingSetup {
  cleanTokens: number[];
  corruptedTokens: number[];
  /** Token texts of the clean and corrupted prompts. */
  cleanStr: string[];
  corruptedStr: string[];
  answers: { clean: { id: number; token: string }; corrupted: { id: number; token: string } } | null;
  metric: LogitsMetric;
  direction: "denoise" | "noise";
  batchSize: number;
  /** The prompt that is run with patches, and the one that gives the patched-in activations. */
  baseTokens: number[];
  sourceTokens: number[];
}

/** Difference of two tokens' logits, per row. */
export function logitDifference(a: number, b: number): LogitsMetric {
  return (logits) => tf.tidy(() => tf.sub(logits.gather([a], 1), logits.gather([b], 1)).reshape([-1]) as tf.Tensor1D);
}

export function preparePatching(model: LanguageModel, o: PatchingSetupOptions): PatchingSetup {
  if (!o || typeof o !== "object") throw new ArgumentError("options", "is missing", 'pass { clean, corrupted, answers: [" Paris", " Tokyo"] }');
  if (o.clean === undefined || o.corrupted === undefined) throw new ArgumentError(o.clean === undefined ? "clean" : "corrupted", "is missing", "pass a clean and a corrupted prompt of the same token length");
  const tok = { prependBos: o.prependBos };
  const cleanTokens = withInputArgument("clean", () => model.toTokens(o.clean as string, tok) as number[]);
  const corruptedTokens = withInputArgument("corrupted", () => model.toTokens(o.corrupted as string, tok) as number[]);
  if (cleanTokens.length !== corruptedTokens.length) {
    throw new ArgumentError(
      "corrupted",
      `has ${corruptedTokens.length} tokens but clean has ${cleanTokens.length} (clean: ${JSON.stringify(model.toStrTokens(cleanTokens))}, corrupted: ${JSON.stringify(model.toStrTokens(corruptedTokens))})`,
      "patching compares position by position: choose prompts of the same token length, e.g. swap one single-token word",
    );
  }
  let answers: PatchingSetup["answers"] = null;
  let metric = o.metric;
  if (!metric) {
    if (!Array.isArray(o.answers) || o.answers.length !== 2) throw new ArgumentError("answers", `is ${JSON.stringify(o.answers)}`, 'pass [clean answer, corrupted answer], e.g. [" Paris", " Tokyo"], or a metric');
    const a = resolveTokenId(model, o.answers[0], "answers[0]");
    const b = resolveTokenId(model, o.answers[1], "answers[1]");
    if (a === b) throw new ArgumentError("answers", `names the same token twice (${a})`, "give the clean and the corrupted prompt's different answers");
    answers = { clean: { id: a, token: model.toStrTokens([a])[0] }, corrupted: { id: b, token: model.toStrTokens([b])[0] } };
    metric = logitDifference(a, b);
  } else if (typeof metric !== "function") {
    throw new ArgumentError("metric", "is not a function", "pass (lastLogits: tf.Tensor2D) => tf.Tensor1D");
  }
  const direction = o.direction ?? "denoise";
  if (direction !== "denoise" && direction !== "noise") throw new ArgumentError("direction", `is ${JSON.stringify(direction)}`, 'use "denoise" or "noise"');
  return {
    cleanTokens,
    corruptedTokens,
    cleanStr: model.toStrTokens(cleanTokens),
    corruptedStr: model.toStrTokens(corruptedTokens),
    answers,
    metric,
    direction,
    batchSize: checkBatchSize(o.batchSize, cleanTokens.length),
    baseTokens: direction === "denoise" ? corruptedTokens : cleanTokens,
    sourceTokens: direction === "denoise" ? cleanTokens : corruptedTokens,
  };
}

/** The metric of one prompt's own run, and (when `cache` names hooks) the cache of that run. */
export async function unpatchedRun(model: LanguageModel, tokens: number[], metric: LogitsMetric, cache: string[] = []): Promise<{ value: number; cache: ActivationCache }> {
  const run = model.run(tokens, { cache });
  try {
    const values = tf.tidy(() => metric(run.logits.slice([0, tokens.length - 1, 0], [1, 1, -1]).reshape([1, -1]) as tf.Tensor2D));
    const [value] = await values.data();
    values.dispose();
    run.logits.dispose();
    return { value, cache: run.cache };
  } catch (err) {
    run.dispose();
    throw err;
  }
}

/** (m − m_corrupted) / (m_clean − m_corrupted); throws when clean and corrupted do not differ. */
export function normaliser(clean: number, corrupted: number): (m: number) => number {
  const span = clean - corrupted;
  if (!Number.isFinite(span) || Math.abs(span) < 1e-6) {
    throw new ArgumentError("corrupted", `gives the same metric as clean (${clean.toFixed(6)} vs ${corrupted.toFixed(6)}), so no effect can be normalised`, "choose a corruption that changes the answer (or a metric that tells them apart)");
  }
  return (m) => (m - corrupted) / span;
}
