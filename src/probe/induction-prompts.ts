// Sequences for the induction detector. A model learns induction on the text it was trained on: the demo model
// saw lists of nouns, a full stop and a space, then the list again, and does not generalise to random ids (see
// the demo's training notes); other models get the usual repeated list of random tokens.
import path from "node:path";
import { seededRandom, sampleDistinct } from "./random";
import type { ProbeModel } from "./types";

/** The induction nouns of the demo model's training corpus. */
export const DEMO_INDUCTION_NOUNS = [
  "tiger", "lamp", "orange", "river", "cloud", "stone", "piano", "window", "forest", "candle", "rocket", "pencil", "mirror",
  "garden", "silver", "bridge", "coffee", "dragon", "planet", "violin", "basket", "castle", "ticket", "jungle", "marble",
  "engine", "pepper", "saddle",
] as const;

export function isDemoModel(model: Pick<ProbeModel, "name">): boolean {
  return model.name === "demo" || path.basename(model.name) === "lmprobe-demo";
}

/** A list prompt in the demo model's own format, cut where the model should continue it. */
export interface DemoInductionPrompt {
  /** "w1 w2 … wk. w1 … w{cut}" */
  text: string;
  words: string[];
  /** The word the model should continue with, with its leading space (" w{cut+1}"), or null when the list is complete. */
  expected: string | null;
}

/**
 * The demo's induction format: k distinct nouns, ". ", then the list again up to `cut` words (default: the
 * whole list). The evaluation format of the demo is k = 6, cut = 3, expecting the 4th word.
 */
export function demoInductionPrompt(seed: number, options: { k?: number; cut?: number } = {}): DemoInductionPrompt {
  const k = options.k ?? 6;
  const cut = options.cut ?? k;
  const words = sampleDistinct(DEMO_INDUCTION_NOUNS, k, seededRandom(seed));
  return { text: `${words.join(" ")}. ${words.slice(0, cut).join(" ")}`, words, expected: cut < k ? ` ${words[cut]}` : null };
}

/** A list of `length` random token ids (no special tokens), then the same list again: [BOS?] r r. */
export function repeatedRandomTokens(model: Pick<ProbeModel, "config" | "tokenizer">, seed: number, length = 20): number[] {
  const random = seededRandom(seed);
  const special = new Set([model.tokenizer.bosTokenId, model.tokenizer.padTokenId, ...model.tokenizer.eosTokenIds, model.config.bosTokenId, model.config.padTokenId, ...model.config.eosTokenIds]);
  const vocab = Math.min(model.config.vocabSize, model.tokenizer.vocabSize || model.config.vocabSize);
  const list: number[] = [];
  while (list.length < length) {
    const id = Math.floor(random() * vocab);
    if (!special.has(id) && !list.includes(id)) list.push(id);
  }
  const bos = model.tokenizer.bosTokenId ?? model.config.bosTokenId;
  // Models that expect a BOS get one, so the first token is not also the attention sink.
  const prefix = bos !== null && bos !== undefined && model.tokenizer.encode("a", { addSpecialTokens: true })[0] === bos ? [bos] : [];
  return [...prefix, ...list, ...list];
}

/** The default sequence of the head detectors for this model. */
export function defaultInductionSequence(model: ProbeModel, seed = 0): number[] {
  if (isDemoModel(model)) return model.toTokens(demoInductionPrompt(seed).text, { prependBos: false });
  return repeatedRandomTokens(model, seed);
}
