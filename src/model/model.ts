// LanguageModel: a canonical model with its config and tokenizer, and the calls a notebook makes on it: run
// (logits + the activations asked for), runWithHooks (read or replace activations), generate, and the pieces of
// the forward pass probes reuse (final norm, unembedding).
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../io/config";
import type { Tokenizer } from "../io/tokenizer-types";
import { decodeOfRows, tokenTextsOfRows } from "../io/unused-ids";
import { ActivationCache } from "./cache";
import { canonicalTensors, type CanonicalModel } from "./canonical";
import { finalNorm, forward, unembed } from "./forward";
import { generate, type GenerateOptions, type GenerateResult } from "./generate";
import { cacheSelector, HookRunner, hookPointNames, prepareHooks, type CacheFilter, type HookMap } from "./hooks";
import { padBatch, tokenize, type ModelInput, type TokenizeOptions, type TokenizerContext } from "./inputs";
import { forgetModel } from "./provenance";
import { NonFiniteActivationError } from "../errors";
import { disposeObserved, finiteCheckHooks, firstNonFinite, firstNonFiniteIndex, firstNonFiniteSync, type NonFiniteSite, type Observed } from "./non-finite";

/** Options of model.run() and model.runWithHooks(): what to cache, and how the input is tokenised. */
export interface RunOptions extends TokenizeOptions {
  /** Hook names (full, or shorthand such as "resid_post" for every block) or a predicate; default: none. */
  cache?: CacheFilter;
  /** Unembed only the last position: logits [batch, 1, vocab]. Probes that read the cache need no more, and a
   *  [pos, vocab] logits tensor (100 MB for GPT-2 at 512 positions) would dominate their memory. */
  lastPositionOnly?: boolean;
  /**
   * Check every hook point and the logits for NaN / ±Infinity and throw NonFiniteActivationError naming the first
   * (hook, layer, position). Off by default: it costs a pass of isFinite over every activation and a small
   * synchronous read (on webgpu, which cannot read synchronously, use findNonFinite instead).
   */
  checkFinite?: boolean;
}

/** What model.run() returns: the logits, the activations cached, the tokens; dispose() frees them. */
export interface RunResult {
  /** [batch, pos, vocab]; rows are left-padded to the longest prompt. */
  logits: tf.Tensor3D;
  cache: ActivationCache;
  /** Unpadded token ids of each row. */
  tokens: number[][];
  /** 1 for real tokens, 0 for left padding [batch][pos]. */
  attentionMask: number[][];
  /** Frees logits and cache. */
  dispose(): void;
}

/**
 * A loaded model: its config, tokenizer and canonical weights, and the calls a notebook makes on it (run,
 * runWithHooks, generate, tokenising).
 */
export class LanguageModel {
  private readonly hookNames: string[];

  constructor(
    /** The weights in the canonical layout (see canonical.ts). */
    readonly weights: CanonicalModel,
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    /** Where it came from: a hub id, a directory or "demo". */
    readonly name: string,
  ) {
    this.hookNames = hookPointNames(weights);
  }

  get nLayers(): number {
    return this.weights.nLayers;
  }

  /** Every hook point of this model, in forward order. */
  hookPoints(): string[] {
    return [...this.hookNames];
  }

  /** Token ids of a text (or of each text of a list); ids pass through after a range check. */
  toTokens(input: string | number[], opts?: TokenizeOptions): number[];
  toTokens(input: string[] | number[][], opts?: TokenizeOptions): number[][];
  toTokens(input: ModelInput, opts: TokenizeOptions = {}): number[] | number[][] {
    const rows = tokenize(this.tokenizerContext(), input, opts);
    return typeof input === "string" || (Array.isArray(input) && typeof input[0] === "number") ? rows[0] : rows;
  }

  /**
   * Readable text of each token (" Paris", "\n"). An id the model's unembedding has a row for but the tokenizer no
   * token (a vocabulary padded for the kernels, as Pythia's and Qwen2.5's are) reads "<no token ID>".
   */
  toStrTokens(input: string | number[], opts: TokenizeOptions = {}): string[] {
    const ids = typeof input === "string" ? this.toTokens(input, opts) : input;
    return tokenTextsOfRows(this.tokenizer, ids, this.weights.vocabSize);
  }

  /** The text of token ids (the tokenizer's decode), ids without a token as in toStrTokens. */
  toText(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    return decodeOfRows(this.tokenizer, ids, this.weights.vocabSize, opts);
  }

  /** Forward pass: logits and the activations named in opts.cache. Dispose the result when done. */
  run(input: ModelInput, opts: RunOptions = {}): RunResult {
    return this.runWithHooks(input, {}, opts);
  }

  /**
   * Forward pass with hooks: each hook receives an activation and its context and may return a replacement of the
   * same shape. The hooks exist only for this call, also when one throws.
   */
  runWithHooks(input: ModelInput, hooks: HookMap, opts: RunOptions = {}): RunResult {
    return this.observedRun(input, hooks, opts, opts.checkFinite ? [] : null);
  }

  /**
   * Where a forward pass of `input` (with `hooks`) first produces NaN or ±Infinity: the first hook point in forward
   * order holding one, then the logits; null when every value is finite. Reads asynchronously (any backend).
   */
  async findNonFinite(input: ModelInput, hooks: HookMap = {}, opts: Omit<RunOptions, "cache" | "checkFinite"> = {}): Promise<NonFiniteSite | null> {
    const observed: Observed[] = [];
    try {
      this.observedRun(input, hooks, opts, observed, false).dispose();
      return await firstNonFinite(observed);
    } finally {
      disposeObserved(observed);
    }
  }

  private observedRun(input: ModelInput, hooks: HookMap, opts: RunOptions, observed: Observed[] | null, throwAtFirst = true): RunResult {
    const batch = padBatch(tokenize(this.tokenizerContext(), input, opts), this.padTokenId(), this.weights.maxPositions);
    const prepared = prepareHooks(hooks, this.hookNames);
    // The checks run after the caller's hooks at each point, so they see what the model continues with.
    if (observed) for (const [name, fns] of finiteCheckHooks(this.hookNames, observed)) prepared.set(name, [...(prepared.get(name) ?? []), ...fns]);
    const runner = new HookRunner(cacheSelector(opts.cache, this.hookNames), prepared);
    let logits: tf.Tensor3D;
    try {
      logits = tf.tidy(() => forward(this.weights, batch, runner, { lastPositionOnly: opts.lastPositionOnly }));
      if (observed) observed.push({ hook: "logits", layer: null, shape: logits.shape, flag: firstNonFiniteIndex(logits) });
      if (observed && throwAtFirst) {
        const site = firstNonFiniteSync(observed);
        disposeObserved(observed);
        if (site) {
          logits.dispose();
          throw new NonFiniteActivationError(site.hook, site.layer, site.position, site.index, site.value);
        }
      }
    } catch (err) {
      for (const t of runner.cached.values()) t.dispose();
      if (observed && throwAtFirst) disposeObserved(observed);
      throw err;
    }
    const cache = new ActivationCache(runner.cached, this.nLayers);
    return {
      logits,
      cache,
      tokens: batch.tokens,
      attentionMask: batch.keyValid.map((row) => Array.from(row)),
      dispose: () => {
        logits.dispose();
        cache.dispose();
      },
    };
  }

  /** Generates tokens after the prompt (greedy unless temperature > 0). Dispose the result to free captures. */
  generate(input: ModelInput, opts: GenerateOptions = {}): Promise<GenerateResult> {
    return generate(this, input, opts);
  }

  /** ln_final of a residual stream [..., d_model] (a new tensor). */
  applyFinalNorm(resid: tf.Tensor): tf.Tensor {
    return tf.tidy(() => finalNorm(this.weights, resid, null));
  }

  /** Logits of final-normed activations [..., d_model] → [..., vocab], with the final softcap (a new tensor). */
  unembed(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      return unembed(this.weights, x).reshape([...lead, this.weights.vocabSize]);
    });
  }

  /** Frees the weights. The model cannot be used afterwards. */
  dispose(): void {
    forgetModel(this);
    this.weights.layerWeights?.close();
    for (const t of canonicalTensors(this.weights)) t.dispose();
  }

  /** @internal */
  tokenizerContext(): TokenizerContext {
    return { tokenizer: this.tokenizer, vocabSize: this.weights.vocabSize, maxPositions: this.weights.maxPositions, padTokenId: this.padTokenId() };
  }

  /** @internal Padding id for left-padded batches: the tokenizer's, else config's, else the first EOS, else 0. */
  padTokenId(): number {
    return this.tokenizer.padTokenId ?? this.config.padTokenId ?? this.config.eosTokenIds[0] ?? this.tokenizer.eosTokenIds[0] ?? 0;
  }
}
