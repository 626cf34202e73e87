// Knows the limits before loading: from the safetensors headers alone, the bytes the model's weights take
// as float32 tensors plus a margin for activations, compared with what the active tfjs backend can hold.
// Loading is refused (ModelTooLargeError) before a single weight is read, instead of failing half-way
// with an out-of-memory abort that takes the notebook kernel down with it.
import { activeBackendName, backendCapacity, backendsThatFit, bytesNeededOn, fitsOn } from "../backend/capacity";
import { ModelTooLargeError } from "../errors";
import type { WeightSource } from "./weight-source";

export { backendCapacity, bytesNeededOn, WASM_HEAP_BYTES, type BackendCapacity } from "../backend/capacity";

/** Float dtypes become float32 tensors; other tensors (integer buffers) are never uploaded. */
const FLOAT_DTYPES = new Set(["F32", "F16", "BF16"]);

export interface MemoryEstimate {
  /** Bytes of every floating-point weight as float32. */
  weightBytes: number;
  /**
   * Headroom for activations, the transient float32 copy of the tensor being uploaded and the backend's
   * own buffers: 15% of the weights, at least 128 MiB (a cached run of a few hundred tokens on a
   * 0.5B-parameter model stays well inside it).
   */
  marginBytes: number;
  totalBytes: number;
  /**
   * Bytes of the matrices the forward pass multiplies by (2-D weights other than embedding tables). On wasm,
   * XNNPACK keeps a packed copy of each after its first use, so they count twice there (measured: a
   * Qwen2.5-0.5B-shaped model's heap grows from 2.02 to 3.48 GB on its first forward pass).
   */
  matrixBytes: number;
  largestTensor: { name: string; bytes: number };
}

/** Embedding tables are read by gather, never multiplied by, so XNNPACK never packs them. */
const EMBEDDING_NAME = /(embed_tokens|embed_in|wte|wpe|embed_positions)\.weight$/;

export function estimateMemory(weights: WeightSource): MemoryEstimate {
  let weightBytes = 0;
  let matrixBytes = 0;
  let largestTensor = { name: "", bytes: 0 };
  for (const name of weights.names()) {
    const info = weights.info(name);
    if (!FLOAT_DTYPES.has(info.dtype)) continue;
    const bytes = info.shape.reduce((a, b) => a * b, 1) * 4;
    weightBytes += bytes;
    if (info.shape.length === 2 && !EMBEDDING_NAME.test(name)) matrixBytes += bytes;
    if (bytes > largestTensor.bytes) largestTensor = { name, bytes };
  }
  const marginBytes = Math.max(128 * 1024 * 1024, Math.ceil(weightBytes * 0.15));
  return { weightBytes, marginBytes, totalBytes: weightBytes + marginBytes, matrixBytes, largestTensor };
}

/** Throws ModelTooLargeError when the estimate exceeds what `backend` (default: the active one) can hold. */
export function checkMemoryFits(estimate: MemoryEstimate, backend: string = activeBackendName()): void {
  const capacity = backendCapacity(backend);
  if (fitsOn(estimate, capacity)) return;
  const tensorTooLarge = estimate.largestTensor.bytes > capacity.maxTensorBytes;
  throw new ModelTooLargeError(
    tensorTooLarge ? estimate.largestTensor.bytes : bytesNeededOn(estimate, backend),
    tensorTooLarge ? `${backend} (per-buffer limit, tensor "${estimate.largestTensor.name}")` : backend,
    tensorTooLarge ? capacity.maxTensorBytes : capacity.totalBytes,
    backendsThatFit(estimate, backend),
  );
}
