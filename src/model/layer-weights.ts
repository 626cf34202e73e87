// Layer weights made resident on demand, for quantised checkpoints whose float32 form does not fit: each
// block's weights are dequantised when the forward pass reaches the block and freed again once two newer
// blocks have been made resident, so at most two blocks exist in float32 at a time. The BlockWeights objects
// stay in the model as skeletons (their disposed tensors keep shape and metadata for hook names and probes)
// and are refilled in place.
import * as tf from "@tensorflow/tfjs-core";
import type { BlockWeights } from "./canonical";

/** How the forward pass gets a block's weights when they are not all resident. */
export interface LayerWeightProvider {
  /** Makes block `layer`'s weights resident (rebuilding them from the checkpoint if they were freed). */
  acquire(layer: number): void;
  /** Layers whose weights are resident now, oldest first. */
  residentLayers(): number[];
  /** Frees every resident block and closes the checkpoint file. */
  close(): void;
}

/** The most blocks held in float32 at once: the one running and the one before it. */
export const MAX_RESIDENT_LAYERS = 2;

function keepAll(v: unknown): void {
  if (v instanceof tf.Tensor) {
    tf.keep(v);
    return;
  }
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return;
  for (const child of Array.isArray(v) ? v : Object.values(v)) keepAll(child);
}

/**
 * A provider over `blocks` (already built and, except for none, freed) that rebuilds block l with `build(l)`.
 * Written with closures so that tf.tidy, which walks the model it returns, sees only functions here.
 */
export function rebuildingLayerWeights(blocks: BlockWeights[], build: (layer: number) => BlockWeights, closeSource: () => void): LayerWeightProvider {
  const resident: number[] = [];
  const evict = (layer: number) => {
    tf.dispose(blocks[layer] as unknown as tf.TensorContainer);
    resident.splice(resident.indexOf(layer), 1);
  };
  return {
    acquire(layer: number): void {
      if (resident.includes(layer)) return;
      while (resident.length >= MAX_RESIDENT_LAYERS) evict(resident[0]);
      const fresh = tf.tidy(() => build(layer) as unknown as tf.TensorContainer) as unknown as BlockWeights;
      // Kept so that the caller's tidy (the forward pass runs inside one) does not free them with its intermediates.
      keepAll(fresh);
      Object.assign(blocks[layer], fresh);
      resident.push(layer);
    },
    residentLayers: () => [...resident],
    close(): void {
      while (resident.length > 0) evict(resident[0]);
      closeSource();
    },
  };
}
