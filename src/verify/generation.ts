// Greedy generation against the reference's generated_ids, with and without the key/value cache. A divergence
// is a failure unless the step was a near tie: the top-2 logit margin there is under 1e-4 (from the reference's
// logits at the first step, which the file holds; from the engine's logits on the reference's own prefix at later
// steps, which agree with the reference's within the tensor tolerances).
import * as tf from "@tensorflow/tfjs-core";
import type { LanguageModel } from "../model/model";
import { topTwo } from "../model/sampling";

export const NEAR_TIE_MARGIN = 1e-4;

/** One generation in verify(): the ids, where they diverge, and whether that is a near tie. */
export interface GenerationRun {
  ok: boolean;
  ids: number[];
  /** First generated step (0-based) where the ids differ from the reference, or null. */
  divergedAt: number | null;
  /** At the divergence: the top-2 margin, where it came from, and whether it counts as a near tie. */
  margin?: number;
  marginSource?: "reference" | "engine";
  nearTie?: boolean;
}

/** verify()'s check of the greedy continuation, with and without the key/value cache. */
export interface GenerationCheck {
  ok: boolean;
  /** The reference's generated_ids: prompt then continuation. */
  expected: number[];
  promptLength: number;
  withCache: GenerationRun;
  withoutCache: GenerationRun;
}

export async function checkGeneration(model: LanguageModel, promptIds: number[], expected: number[], referenceLastLogits: Float32Array | null): Promise<GenerationCheck> {
  const newCount = expected.length - promptIds.length;
  const runOnce = async (useCache: boolean): Promise<GenerationRun> => {
    const result = await model.generate([promptIds], { maxNewTokens: newCount, useCache, stopAtEos: false });
    result.dispose();
    // A row that the reference ended early at EOS is compared over the reference's length.
    const ids = result.tokens[0];
    const step = firstDifference(ids, expected, promptIds.length);
    if (step === null) return { ok: true, ids, divergedAt: null };
    const { margin, source } = await marginAt(model, expected, promptIds.length + step, step === 0 ? referenceLastLogits : null);
    const nearTie = margin < NEAR_TIE_MARGIN;
    return { ok: nearTie, ids, divergedAt: step, margin, marginSource: source, nearTie };
  };
  const withCache = await runOnce(true);
  const withoutCache = await runOnce(false);
  return { ok: withCache.ok && withoutCache.ok, expected, promptLength: promptIds.length, withCache, withoutCache };
}

function firstDifference(ours: number[], expected: number[], promptLength: number): number | null {
  for (let i = promptLength; i < expected.length; i++) if (ours[i] !== expected[i]) return i - promptLength;
  return null;
}

async function marginAt(model: LanguageModel, expected: number[], prefixLength: number, referenceRow: Float32Array | null): Promise<{ margin: number; source: "reference" | "engine" }> {
  if (referenceRow) {
    const [a, b] = topTwo(referenceRow);
    return { margin: a - b, source: "reference" };
  }
  const result = model.run([expected.slice(0, prefixLength)]);
  try {
    const last = tf.tidy(() => result.logits.slice([0, prefixLength - 1, 0], [1, 1, -1]).reshape([-1]));
    const row = (await last.data()) as Float32Array;
    last.dispose();
    const [a, b] = topTwo(row);
    return { margin: a - b, source: "engine" };
  } finally {
    result.dispose();
  }
}
