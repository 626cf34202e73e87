// ActivationCache: the activations a run was asked to keep, by full hook name, with TransformerLens's shorthand
// (get("resid_post", 3)), stacks over layers and the accumulated residual stream.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { resolveHookName } from "./hooks";

/**
 * The activations a run kept, by hook name (full or shorthand with a layer), with the residual stream stacked on
 * demand.
 */
export class ActivationCache {
  private disposed = false;

  constructor(
    private readonly tensors: Map<string, tf.Tensor>,
    /** Number of blocks of the model that produced it. */
    readonly nLayers: number,
  ) {}

  /** Cached hook names, in the order the forward pass reached them. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string, layer?: number): boolean {
    return this.tensors.has(resolveHookName(name, layer));
  }

  /** The cached activation (owned by the cache: do not dispose it; dispose the cache). */
  get(name: string, layer?: number): tf.Tensor {
    this.assertLive();
    const full = resolveHookName(name, layer);
    const t = this.tensors.get(full);
    if (!t) {
      throw new ArgumentError(
        "name",
        `"${full}" was not cached in this run`,
        `ask for it with { cache: ["${full}"] } (cached: ${this.names().slice(0, 8).join(", ")}${this.tensors.size > 8 ? ", …" : ""})`,
      );
    }
    return t;
  }

  /** [layers, …] stack of a per-block activation ("resid_post", "pattern", …). A new tensor: the caller disposes it. */
  stack(name: string): tf.Tensor {
    this.assertLive();
    const parts = Array.from({ length: this.nLayers }, (_, l) => this.get(name, l));
    return tf.stack(parts);
  }

  /**
   * The residual stream before each block and after the last, [L+1, batch, pos, d_model]: resid_pre of block 0
   * (the embedding output, after any scaling) then each block's resid_post. A new tensor: the caller disposes it.
   */
  accumulatedResid(): tf.Tensor {
    this.assertLive();
    const parts = [this.get("resid_pre", 0), ...Array.from({ length: this.nLayers }, (_, l) => this.get("resid_post", l))];
    return tf.stack(parts);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new ArgumentError("cache", "was disposed", "read activations before calling dispose()");
  }
}
