// The gradient cache's backward pass with layer-wise recomputation (gradient checkpointing). Differentiating the
// whole forward pass at once keeps every op's saved inputs on the tape until the backward pass ends: about seven
// times all the hook points' activations. Here the forward sweep runs without a tape and keeps only each block's
// input (and the activations the caller caches); the backward sweep then differentiates the head (final norm,
// unembedding, metric) alone, and each block from the last to the first, recomputed from its kept input inside its
// own gradient call, with the gradient arriving from above as dy; the gradient it returns for its input is the dy
// of the block below. The tape holds one stage at a time, so the peak is the block inputs plus one block's saved
// activations. The recomputation repeats the forward ops on the same inputs, so the activations, and with them the
// gradients, are those of the single pass (test/gradients/checkpointing.test.ts); the price is a second forward
// pass. Hooks (interventions) run in both sweeps, so they must give the same result each time they are called.
import * as tf from "@tensorflow/tfjs-core";
import type { CanonicalModel } from "./canonical";
import { forwardStages, type ForwardInput } from "./forward";
import { HookRunner, type HookFn } from "./hooks";

/** What one checkpointed pass gives back: the summed metric, its rows, a gradient per wanted name, the cache. */
export interface CheckpointedResult {
  value: tf.Scalar;
  grads: tf.Tensor[];
  cached: Map<string, tf.Tensor>;
}

/** Which stage of the forward pass a hook point belongs to: the embeddings (−1), a block, or the head (blocks). */
function stageOf(name: string, nLayers: number): number {
  const block = /^blocks\.(\d+)\./.exec(name);
  if (block) return Number(block[1]);
  if (name === "hook_embed" || name === "hook_pos_embed") return -1;
  if (name.startsWith("ln_final.")) return nLayers;
  throw new Error(`checkpointed gradient: no stage for the hook point ${name} (gradients-checkpointed.ts stageOf)`);
}

/**
 * ∂(scalar)/∂δ for a zero δ added at each of `wanted` (after the hooks of `hooks`), where scalar = metricSum of the
 * logits. `keep` selects the forward activations cached (in the forward sweep only). A throw inside a stage (a hook
 * or the metric) is rethrown after that stage's tape is freed.
 */
export function checkpointedGradients(
  model: CanonicalModel,
  batch: ForwardInput,
  wanted: string[],
  keep: (name: string) => boolean,
  hooks: Map<string, HookFn[]>,
  metricSum: (logits: tf.Tensor3D) => tf.Scalar,
  opts: { lastPositionOnly: boolean; deltaShapes: number[][] },
): CheckpointedResult {
  const L = model.blocks.length;
  const active = new Map<string, tf.Tensor>();
  const withDeltas = new Map(hooks);
  wanted.forEach((name, i) => {
    const insert: HookFn = (x) => {
      const delta = active.get(name);
      if (!delta) return x;
      if (!tf.util.arraysEqual(x.shape, opts.deltaShapes[i])) {
        throw new Error(`gradient cache: the activation at ${name} has shape [${x.shape}], not the [${opts.deltaShapes[i]}] hook-shapes.ts predicted`);
      }
      return tf.add(x, delta);
    };
    withDeltas.set(name, [...(withDeltas.get(name) ?? []), insert]);
  });
  let caching = true;
  const runner = new HookRunner((name) => caching && keep(name), withDeltas);
  const stages = forwardStages(model, batch, runner, { lastPositionOnly: opts.lastPositionOnly });
  const byStage = new Map<number, number[]>();
  wanted.forEach((name, i) => {
    const s = stageOf(name, L);
    byStage.set(s, [...(byStage.get(s) ?? []), i]);
  });
  const lowest = Math.min(...byStage.keys());
  const grads: (tf.Tensor | null)[] = wanted.map(() => null);
  const inputs: (tf.Tensor3D | null)[] = [];
  let value: tf.Scalar | null = null;
  let upstream: tf.Tensor | null = null;
  /** Frees block input l, unless a hook cached that very tensor (resid_pre/resid_post seen unchanged): the cache owns it. */
  const release = (l: number) => {
    const t = inputs[l];
    inputs[l] = null;
    if (t && ![...runner.cached.values()].includes(t)) t.dispose();
  };

  /** d(y)/d(x, the stage's δs) · dy for y = run(x) (x null: the embeddings, which have no input). */
  const differentiate = (stage: number, x: tf.Tensor | null, run: (x: tf.Tensor | null) => tf.Tensor, dy: tf.Tensor | null): { y: tf.Tensor; dx: tf.Tensor | null } => {
    const indices = byStage.get(stage) ?? [];
    const deltas = indices.map((i) => tf.zeros(opts.deltaShapes[i]));
    indices.forEach((i, k) => active.set(wanted[i], deltas[k]));
    const xs = x ? [x, ...deltas] : deltas;
    let failure: unknown = null;
    try {
      const { value: y, grads: g } = tf.engine().gradients(
        () => {
          try {
            return run(x);
          } catch (err) {
            // Returned unconnected, so the engine frees what the tape saved before the error is rethrown.
            failure = err;
            return dy ? tf.zeros(dy.shape) : tf.scalar(0);
          }
        },
        xs,
        dy ?? undefined,
        true, // a stage whose output does not depend on its input (a hook replacing it) has a zero gradient
      );
      if (failure !== null) {
        tf.dispose([y, ...g.filter((t): t is tf.Tensor => t !== undefined)]);
        throw failure;
      }
      // A gradient may be dy itself (passed straight through); the caller frees dy, so such a one is copied.
      const filled = g.map((t, k) => (t === undefined ? tf.zerosLike(xs[k]) : t === dy ? t.clone() : t));
      indices.forEach((i, k) => (grads[i] = filled[(x ? 1 : 0) + k]));
      return { y, dx: x ? filled[0] : null };
    } finally {
      indices.forEach((i) => active.delete(wanted[i]));
      tf.dispose(deltas);
    }
  };

  try {
    // Forward sweep: no tape, each block's input kept, the requested activations cached.
    inputs.push(tf.tidy(() => stages.embed()));
    for (let l = 0; l < L; l++) inputs.push(stages.block(l, inputs[l]!));
    caching = false;

    // Head: the metric's gradient with respect to the last block's output (its hooks cache here: it runs once).
    caching = true;
    const head = differentiate(L, inputs[L], (x) => metricSum(stages.head(x as tf.Tensor3D)), null);
    caching = false;
    value = head.y as tf.Scalar;
    upstream = head.dx;
    release(L);

    // Blocks, last to first, down to the lowest one a gradient is wanted at.
    for (let l = L - 1; l >= Math.max(lowest, 0); l--) {
      const step = differentiate(l, inputs[l], (x) => stages.block(l, x as tf.Tensor3D), upstream);
      step.y.dispose();
      upstream!.dispose();
      upstream = step.dx;
      release(l);
    }
    if (lowest === -1) {
      const embed = differentiate(-1, null, () => stages.embed(), upstream);
      embed.y.dispose();
    }
  } catch (err) {
    value?.dispose();
    tf.dispose(grads.filter((t): t is tf.Tensor => t !== null));
    for (const t of runner.cached.values()) t.dispose();
    throw err;
  } finally {
    upstream?.dispose();
    inputs.forEach((_, l) => release(l));
    stages.dispose();
  }
  return { value: value!, grads: grads as tf.Tensor[], cached: runner.cached };
}
