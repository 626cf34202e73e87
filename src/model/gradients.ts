// The gradient cache: for a scalar metric of the logits, the gradient at any hook point, with the forward
// activations, as ActivationCaches. At each requested point the forward pass adds a zero tensor δ (x + δ = x) and
// tfjs differentiates the metric with respect to the δs: ∂metric/∂δ is the gradient with respect to the activation
// the rest of the model reads there (TransformerLens's backward hooks give the same). By default the backward pass
// is checkpointed by block (gradients-checkpointed.ts: the tape holds one block at a time, for a second forward
// pass); checkpoint: false differentiates the whole pass at once (the tape holds what every op saves until the
// backward pass ends, about 7× all the hook points' activations).
import * as tf from "@tensorflow/tfjs-core";
import { withDifferentiableOps } from "../backend/gradient-mode";
import { ensureTfjsGradients } from "../backend/tfjs-gradients";
import { withSharedClonesOnWasm } from "../backend/kernels/identity-wasm";
import { ArgumentError, GradientMemoryError } from "../errors";
import { ActivationCache } from "./cache";
import { forward } from "./forward";
import { cacheSelector, HookRunner, prepareHooks, type CacheFilter, type HookFn, type HookMap } from "./hooks";
import { hookShape } from "./hook-shapes";
import { padBatch, tokenize, type ModelInput, type TokenizeOptions } from "./inputs";
import type { LanguageModel } from "./model";
import { describeBackend } from "../backend/describe";
import { checkpointedGradients } from "./gradients-checkpointed";

/**
 * A metric of the logits [batch, pos, vocab] (or [batch, 1, vocab] with lastPositionOnly): a scalar, or one value
 * per row [batch] (the gradient is then that of their sum; rows do not interact, so each row's gradient is its own).
 */
export type GradientMetric = (logits: tf.Tensor3D) => tf.Tensor;

/** The metric, hook names, cache filter, hooks and positions of gradientCache(). */
export interface GradientCacheOptions extends TokenizeOptions {
  metric: GradientMetric;
  /** Hook points whose gradient is wanted: full names, shorthand ("resid_post" = every block) or a predicate. */
  names: CacheFilter;
  /** Forward activations to keep (same forms); default: the same points as `names`. */
  cache?: CacheFilter;
  /** Hooks applied during the pass (before the gradient points are read): e.g. an interpolated embedding. */
  hooks?: HookMap;
  /** Unembed only the last position (the metric then sees logits [batch, 1, vocab]); saves the [pos, vocab] logits. */
  lastPositionOnly?: boolean;
  /**
   * Recompute each block during the backward pass from its kept input (default true): the tape then holds one
   * block at a time instead of the whole pass, for a second forward pass's time (gradients-checkpointed.ts).
   * Hooks run in both passes. false differentiates the single forward pass as a whole.
   */
  checkpoint?: boolean;
}

/** gradientCache()'s gradients and forward activations (as activation caches) and the metric per row. */
export interface GradientCacheResult {
  /** The metric: its sum over rows when it gave one value per row. */
  value: number;
  /** The metric per row (one entry for a scalar metric). */
  rowValues: Float32Array;
  /** ∂metric/∂activation at each requested hook point, shaped like the activation. */
  gradients: ActivationCache;
  /** The forward activations asked for (see `cache`). */
  cache: ActivationCache;
  /** Unpadded token ids of each row. */
  tokens: number[][];
  /** Frees both caches. */
  dispose(): void;
}

/** The metric's gradient at hook points of one forward pass (see the file comment). Dispose the result. */
export async function gradientCache(model: LanguageModel, input: ModelInput, opts: GradientCacheOptions): Promise<GradientCacheResult> {
  if (!opts || typeof opts.metric !== "function") throw new ArgumentError("metric", "is not a function", "pass (logits: tf.Tensor3D) => tf.Tensor, e.g. logitDiffMetric(model, \" Paris\", \" Tokyo\")");
  ensureTfjsGradients();
  const available = model.hookPoints();
  if (opts.names === undefined) throw new ArgumentError("names", "is missing", 'name the hook points whose gradient you want, e.g. { names: ["resid_pre", "hook_embed"] }');
  const wanted = available.filter(cacheSelector(opts.names, available));
  if (wanted.length === 0) throw new ArgumentError("names", "selects no hook point", "use hook names from model.hookPoints() or a shorthand such as \"resid_pre\"");
  const batch = padBatch(tokenize(model.tokenizerContext(), input, opts), model.padTokenId(), model.weights.maxPositions);
  const rows = batch.ids.length;
  const pos = batch.ids[0].length;
  const lastOnly = opts.lastPositionOnly ?? false;
  const shapes = wanted.map((name) => hookShape(model.weights, name, rows, pos, lastOnly));
  const keep = cacheSelector(opts.cache ?? opts.names, available);

  const hooks = prepareHooks(opts.hooks, available);
  let rowValues: tf.Tensor | null = null;
  /** The metric of the logits, checked, its rows kept: the scalar differentiated. */
  const metricSum = (logits: tf.Tensor3D): tf.Scalar => {
    const m = opts.metric(logits);
    if (!(m instanceof tf.Tensor)) throw new ArgumentError("metric", "returned something that is not a tensor", "return a scalar or a [batch] tensor");
    if (!(m.rank === 0 || (m.rank === 1 && m.shape[0] === rows))) {
      throw new ArgumentError("metric", `returned shape [${m.shape}]`, `return a scalar or one value per row ([${rows}])`);
    }
    rowValues?.dispose();
    rowValues = tf.keep(m.reshape([-1]).clone());
    return tf.sum(m) as tf.Scalar;
  };
  let result: { value: tf.Scalar; grads: tf.Tensor[]; cached: Map<string, tf.Tensor> };
  try {
    result = withSharedClonesOnWasm(() =>
      withDifferentiableOps(() =>
        opts.checkpoint === false
          ? wholePassGradients(model, batch, wanted, shapes, keep, hooks, metricSum, lastOnly)
          : checkpointedGradients(model.weights, batch, wanted, keep, hooks, metricSum, { lastPositionOnly: lastOnly, deltaShapes: shapes }),
      ),
    );
  } catch (err) {
    (rowValues as tf.Tensor | null)?.dispose();
    throw outOfMemory(err, pos, opts.checkpoint !== false);
  }
  const gradients = new ActivationCache(new Map(wanted.map((name, i) => [name, result.grads[i]])), model.nLayers);
  const cache = new ActivationCache(result.cached, model.nLayers);
  const valueTensor = result.value;
  const rowTensor = rowValues as unknown as tf.Tensor;
  let value: number;
  let perRow: Float32Array;
  try {
    // Read asynchronously: GPU backends cannot be read synchronously.
    [value] = await valueTensor.data();
    perRow = Float32Array.from((await rowTensor.data()) as Float32Array);
  } catch (err) {
    gradients.dispose();
    cache.dispose();
    throw err;
  } finally {
    tf.dispose([valueTensor, rowTensor]);
  }
  return {
    value,
    rowValues: perRow,
    gradients,
    cache,
    tokens: batch.tokens,
    dispose: () => {
      gradients.dispose();
      cache.dispose();
    },
  };
}

/** tfjs-wasm reports an exhausted heap as a WebAssembly trap: say what ran out and what to do. */
function outOfMemory(err: unknown, positions: number, checkpointed: boolean): unknown {
  if (err instanceof WebAssembly.RuntimeError && /memory access out of bounds|out of memory/.test(err.message)) {
    return new GradientMemoryError(describeBackend().name, positions, err.message, checkpointed);
  }
  return err;
}

/**
 * The gradient of the single forward pass, differentiated as a whole (checkpoint: false): a zero δ added at each
 * wanted point after its hooks, the tape holding every op's saved inputs until the backward pass ends.
 */
function wholePassGradients(
  model: LanguageModel,
  batch: ReturnType<typeof padBatch>,
  wanted: string[],
  shapes: number[][],
  keep: (name: string) => boolean,
  hooks: Map<string, HookFn[]>,
  metricSum: (logits: tf.Tensor3D) => tf.Scalar,
  lastOnly: boolean,
): { value: tf.Scalar; grads: tf.Tensor[]; cached: Map<string, tf.Tensor> } {
  const zeros = shapes.map((s) => tf.zeros(s));
  const runner = { current: null as HookRunner | null };
  const pass = (deltas: tf.Tensor[]): tf.Scalar => {
    const withDeltas = new Map(hooks);
    wanted.forEach((name, i) => {
      const insert: HookFn = (x) => {
        if (!tf.util.arraysEqual(x.shape, deltas[i].shape)) {
          throw new Error(`gradient cache: the activation at ${name} has shape [${x.shape}], not the [${deltas[i].shape}] hook-shapes.ts predicted`);
        }
        return tf.add(x, deltas[i]);
      };
      withDeltas.set(name, [...(withDeltas.get(name) ?? []), insert]);
    });
    runner.current = new HookRunner(keep, withDeltas);
    return metricSum(forward(model.weights, batch, runner.current, { lastPositionOnly: lastOnly }));
  };
  // An error inside the differentiated function (a hook or the metric throwing) would leave the tensors the tape
  // saved alive: tfjs frees them only when the backward pass runs. So the error is held, a zero connected to
  // every δ is returned (the engine then finishes and frees the tape) and the error is rethrown afterwards.
  let failure: unknown = null;
  const f = (...deltas: tf.Tensor[]): tf.Scalar => {
    try {
      return pass(deltas);
    } catch (err) {
      failure = err;
      return tf.mul(tf.addN(deltas.map((d) => tf.sum(d))), 0) as tf.Scalar;
    }
  };
  const dropCache = () => {
    if (runner.current) for (const t of runner.current.cached.values()) t.dispose();
  };
  let result: { value: tf.Scalar; grads: tf.Tensor[] };
  try {
    // allowNoGradients: a δ the metric does not depend on (below a hook that replaces its input) has gradient 0.
    const { value, grads } = tf.engine().gradients(() => f(...zeros), zeros, undefined, true);
    result = { value, grads: grads.map((g, i) => g ?? tf.zerosLike(zeros[i])) };
  } catch (err) {
    dropCache();
    throw err;
  } finally {
    tf.dispose(zeros);
  }
  if (failure !== null) {
    tf.dispose([result.value, ...result.grads]);
    dropCache();
    throw failure;
  }
  return { ...result, cached: runner.current!.cached };
}
