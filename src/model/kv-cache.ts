// Key/value cache for generation: per layer the rotated keys and the values of every position seen so far,
// exactly as the attention used them (after any hook that replaced them), head-major [batch, kvHeads, pos, dHead]
// so that each step appends along the position axis and nothing cached is transposed again.
import * as tf from "@tensorflow/tfjs-core";

export class KVCache {
  private layers: ({ k: tf.Tensor4D; v: tf.Tensor4D } | null)[];
  private pending: ({ k: tf.Tensor4D; v: tf.Tensor4D } | null)[];

  constructor(nLayers: number) {
    this.layers = new Array(nLayers).fill(null);
    this.pending = new Array(nLayers).fill(null);
  }

  /** Positions held. */
  get length(): number {
    return this.layers[0]?.k.shape[2] ?? 0;
  }

  /** Inside a forward pass: past ⧺ new along positions; the result is kept until commit() or abort(). */
  extend(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
    const past = this.layers[layer];
    const full = past ? { k: tf.concat([past.k, k], 2), v: tf.concat([past.v, v], 2) } : { k, v };
    this.pending[layer] = { k: tf.keep(full.k), v: tf.keep(full.v) };
    return full;
  }

  /** After a successful forward pass: the extended tensors replace the old ones. */
  commit(): void {
    this.layers.forEach((old, i) => {
      const next = this.pending[i];
      if (!next) return;
      if (old) {
        old.k.dispose();
        old.v.dispose();
      }
      this.layers[i] = next;
      this.pending[i] = null;
    });
  }

  /** After a failed forward pass: drops what it added, keeping the cache as it was. */
  abort(): void {
    this.pending.forEach((p, i) => {
      if (!p) return;
      const old = this.layers[i];
      if (!old || p.k !== old.k) p.k.dispose();
      if (!old || p.v !== old.v) p.v.dispose();
      this.pending[i] = null;
    });
  }

  dispose(): void {
    this.abort();
    for (const l of this.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.layers = this.layers.map(() => null);
  }
}
