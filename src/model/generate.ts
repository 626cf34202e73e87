// Autoregressive generation with an optional key/value cache. With the cache each step runs only the new token;
// without it each step reruns the whole sequence. Hooks see the same activations either way for the positions a
// step adds (ctx.pastLength says where they start), and `capture` keeps, per step, only those positions, so a
// capture is identical with and without the cache.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { ActivationCache } from "./cache";
import { forward } from "./forward";
import { cacheSelector, HookRunner, prepareHooks, type CacheFilter, type HookMap } from "./hooks";
import { padBatch, tokenize, type ModelInput, type TokenizeOptions } from "./inputs";
import { KVCache } from "./kv-cache";
import type { LanguageModel } from "./model";
import { nextTokens, type NextTokens } from "./next-token";
import { checkSampling, seededRandom, type SamplingOptions } from "./sampling";

/** Options of model.generate(): length, sampling, seed, hooks, activations to capture. */
export interface GenerateOptions extends TokenizeOptions, SamplingOptions {
  /** Default 16. */
  maxNewTokens?: number;
  /** Seed of the sampler (temperature > 0); the same seed gives the same tokens. */
  seed?: number;
  /** Hook names to keep at every step (see GenerateResult.steps). */
  capture?: CacheFilter;
  hooks?: HookMap;
  /** Use the key/value cache (default true). */
  useCache?: boolean;
  /** Stop a row at an end-of-sequence token (default true). */
  stopAtEos?: boolean;
}

/** What model.generate() returns: prompt and generated ids, texts, the activations captured per step, top-2 margins. */
export interface GenerateResult {
  /** Prompt + generated ids of each row (unpadded). */
  tokens: number[][];
  /** Generated ids of each row. */
  newTokens: number[][];
  /** Decoded generated text of each row. */
  texts: string[];
  /** Per step the captured activations: step 0 covers the prompt's positions, step k the k-th new token. */
  steps: ActivationCache[];
  /** Per step and row, the largest minus the second-largest logit of the chosen distribution (near ties show here). */
  margins: number[][];
  dispose(): void;
}

export async function generate(model: LanguageModel, input: ModelInput, opts: GenerateOptions = {}): Promise<GenerateResult> {
  const maxNew = opts.maxNewTokens ?? 16;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new ArgumentError("maxNewTokens", `is ${maxNew}`, "use a non-negative integer");
  checkSampling(opts);
  const names = model.hookPoints();
  const hooks = prepareHooks(opts.hooks, names);
  const captureSelector = cacheSelector(opts.capture, names);
  const useCache = opts.useCache !== false;
  const stopAtEos = opts.stopAtEos !== false;
  const eos = new Set([...model.config.eosTokenIds, ...model.tokenizer.eosTokenIds]);
  const random = seededRandom(opts.seed ?? Math.floor(Math.random() * 2 ** 32));

  const prompt = padBatch(tokenize(model.tokenizerContext(), input, opts), model.padTokenId(), model.weights.maxPositions, maxNew);
  const batchSize = prompt.ids.length;
  const ids = prompt.ids.map((r) => [...r]);
  const keyValid = prompt.keyValid.map((r) => Array.from(r));
  const positions = prompt.positions.map((r) => [...r]);
  const newTokens: number[][] = prompt.ids.map(() => []);
  const finished = new Array(batchSize).fill(false);
  const steps: ActivationCache[] = [];
  const margins: number[][] = [];
  const kv = useCache ? new KVCache(model.nLayers) : null;

  try {
    for (let step = 0; step < maxNew && !finished.every(Boolean); step++) {
      const total = ids[0].length;
      // Positions this step adds: the whole prompt at step 0, then the one new token.
      const firstNew = step === 0 ? 0 : total - 1;
      const from = kv ? kv.length : 0;
      const runner = new HookRunner(captureSelector, hooks, { pastLength: from, step }, (name, t) => keepPositionsFrom(name, t, firstNew - from));
      let logits: tf.Tensor;
      try {
        logits = tf.tidy(() =>
          forward(
            model.weights,
            {
              ids: ids.map((r) => r.slice(from)),
              positions: positions.map((r) => r.slice(from)),
              keyValid: keyValid.map((r) => Uint8Array.from(r)),
            },
            runner,
            { kv, lastPositionOnly: true },
          ),
        );
        kv?.commit();
      } catch (err) {
        kv?.abort();
        for (const t of runner.cached.values()) t.dispose();
        throw err;
      }
      steps.push(new ActivationCache(runner.cached, model.nLayers));
      let chosen: NextTokens;
      try {
        chosen = await nextTokens(logits, opts, random, finished);
      } finally {
        logits.dispose();
      }
      for (let b = 0; b < batchSize; b++) {
        const next = finished[b] ? model.padTokenId() : chosen.ids[b]!;
        if (!finished[b]) newTokens[b].push(next);
        if (!finished[b] && stopAtEos && eos.has(next)) finished[b] = true;
        ids[b].push(next);
        keyValid[b].push(1);
        positions[b].push(positions[b][positions[b].length - 1] + 1);
      }
      margins.push(chosen.margins);
    }
  } catch (err) {
    kv?.dispose();
    for (const s of steps) s.dispose();
    throw err;
  }
  kv?.dispose();
  return {
    tokens: prompt.tokens.map((row, b) => [...row, ...newTokens[b]]),
    newTokens,
    texts: newTokens.map((row) => model.toText(row, { skipSpecialTokens: true })),
    steps,
    margins,
    dispose: () => steps.forEach((s) => s.dispose()),
  };
}

/** The part of an activation at positions ≥ start of this run (query axis for attention scores and patterns). */
function keepPositionsFrom(name: string, t: tf.Tensor, start: number): tf.Tensor {
  if (start <= 0) return t;
  const axis = /attn\.hook_(pattern|attn_scores)$/.test(name) ? 2 : 1;
  const begin = t.shape.map((_, i) => (i === axis ? start : 0));
  const size = t.shape.map((d, i) => (i === axis ? d - start : -1));
  return t.slice(begin, size);
}
