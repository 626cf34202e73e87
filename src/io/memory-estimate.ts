// Knows the limits before loading: from the safetensors headers alone, the bytes the model's weights take
// as float32 tensors plus a margin for activations, compared with what the active tfjs backend can hold.
// Loading is refused (ModelTooLargeError) before a single weight is read, instead of failing half-way
// with an out-of-memory abort that takes the notebook kernel down with it.
import { activeBackendName, backendCapacity, backendsThatFit, bytesNeededOn, fitsOn, largestTensorOn, streamedBytesNeededOn, type BackendCapacity } from "../backend/capacity";
import { backendReport } from "../backend";
import type { SelectionReport } from "../backend/types";
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
  /** BF16/F16 matrices, which a backend with packed weights (webgpu) keeps at 2 bytes per value (capacity.ts). */
  packable?: { float32Bytes: number; largestPacked: { name: string; bytes: number }; largestOther: { name: string; bytes: number } };
  /** Bytes of the weights as stored when they are quantised (GGUF blocks); absent for float checkpoints. */
  storedBytes?: number;
  /**
   * Checkpoints with blocks (`model.layers.N.*`): what the backend needs when each block is read (and dequantised
   * or widened to float32) as the forward pass reaches it, at most two resident: every weight outside the blocks
   * in float32, the two largest blocks, the margin. The blocks themselves stay in the file (read through the OS
   * page cache), not in the backend. Whether the family can run that way is the loader's question
   * (architectureStreamsLayers).
   */
  streaming?: { totalBytes: number; layerBytes: number; residentMatrixBytes: number };
}

const LAYER_NAME = /^model\.layers\.(\d+)\./;

/** Embedding tables are read by gather, never multiplied by, so XNNPACK never packs them. */
const EMBEDDING_NAME = /(embed_tokens|embed_in|wte|wpe|embed_positions)\.weight$/;

/**
 * Mixture-of-experts weights (experts, routers) and the latent-attention and OPT projections that converters
 * compute on are widened to float32 at load even where weights are packed (model/architectures/*: linearFloat32).
 */
const FLOAT32_AT_LOAD = /(experts|router|\.gate\.weight$|shared_expert_gate|_a_proj|_b_proj|project_(in|out))/;

/** Whether the loader keeps this tensor packed where weights are packed: a 2-D BF16/F16 matrix it multiplies as is. */
function packableMatrix(name: string, dtype: string, rank: number): boolean {
  return rank === 2 && (dtype === "BF16" || dtype === "F16") && !FLOAT32_AT_LOAD.test(name);
}

export function estimateMemory(weights: WeightSource): MemoryEstimate {
  let weightBytes = 0;
  let matrixBytes = 0;
  let largestTensor = { name: "", bytes: 0 };
  let storedBytes: number | undefined;
  let packableBytes = 0;
  let largestPacked = { name: "", bytes: 0 };
  let largestOther = { name: "", bytes: 0 };
  const layerBytes = new Map<number, number>();
  let outsideMatrixBytes = 0;
  for (const name of weights.names()) {
    const info = weights.info(name);
    if (info.quantisation) storedBytes = (storedBytes ?? 0) + info.quantisation.bytes;
    const floatBytes = info.shape.reduce((a, b) => a * b, 1) * 4;
    const layer = LAYER_NAME.exec(name);
    if (layer) layerBytes.set(Number(layer[1]), (layerBytes.get(Number(layer[1])) ?? 0) + floatBytes);
    else if (info.shape.length === 2 && !EMBEDDING_NAME.test(name)) outsideMatrixBytes += floatBytes;
    if (!FLOAT_DTYPES.has(info.dtype)) continue;
    const bytes = info.shape.reduce((a, b) => a * b, 1) * 4;
    weightBytes += bytes;
    if (info.shape.length === 2 && !EMBEDDING_NAME.test(name)) matrixBytes += bytes;
    if (bytes > largestTensor.bytes) largestTensor = { name, bytes };
    if (packableMatrix(name, info.dtype, info.shape.length)) {
      packableBytes += bytes;
      if (bytes / 2 > largestPacked.bytes) largestPacked = { name, bytes: bytes / 2 };
    } else if (bytes > largestOther.bytes) largestOther = { name, bytes };
  }
  const marginBytes = Math.max(128 * 1024 * 1024, Math.ceil(weightBytes * 0.15));
  const estimate: MemoryEstimate = { weightBytes, marginBytes, totalBytes: weightBytes + marginBytes, matrixBytes, largestTensor };
  if (packableBytes > 0) estimate.packable = { float32Bytes: packableBytes, largestPacked, largestOther };
  if (storedBytes !== undefined) estimate.storedBytes = storedBytes;
  if (layerBytes.size === 0) return estimate;
  const allLayers = [...layerBytes.values()].reduce((a, b) => a + b, 0);
  const largestLayer = Math.max(0, ...layerBytes.values());
  const resident = weightBytes - allLayers + Math.min(layerBytes.size, 2) * largestLayer;
  const streamingMargin = Math.max(128 * 1024 * 1024, Math.ceil(resident * 0.15));
  return {
    ...estimate,
    streaming: { totalBytes: resident + streamingMargin, layerBytes: largestLayer, residentMatrixBytes: outsideMatrixBytes + Math.min(layerBytes.size, 2) * largestLayer },
  };
}

/**
 * Throws ModelTooLargeError when the estimate exceeds what `backend` (default: the active one) can hold. The
 * fix offers only backends this machine has, as `report` (default: the last backend selection) found them.
 */
export function checkMemoryFits(estimate: MemoryEstimate, backend: string = activeBackendName(), report: SelectionReport | null = backendReport(), capacity: BackendCapacity = backendCapacity(backend)): void {
  if (fitsOn(estimate, capacity)) return;
  throwIfTensorTooLarge(estimate, backend, capacity, report);
  throw new ModelTooLargeError(bytesNeededOn(estimate, backend), backend, capacity.totalBytes, backendsThatFit(estimate, backend, report));
}

/** ModelTooLargeError naming the tensor when the model's largest one exceeds the backend's largest buffer. */
function throwIfTensorTooLarge(estimate: MemoryEstimate, backend: string, capacity: BackendCapacity, report: SelectionReport | null): void {
  const largest = largestTensorOn(estimate, backend);
  if (largest.bytes <= capacity.maxTensorBytes) return;
  throw new ModelTooLargeError(largest.bytes, backend, capacity.maxTensorBytes, backendsThatFit(estimate, backend, report), false, largest.name);
}

/**
 * Whether to load with each block read (dequantised or widened to float32) as the forward pass reaches it: when
 * the float32 form does not fit and the streamed form does ("auto"), or always / never when asked. Only for
 * families that can run that way (`familyStreams`, architectureStreamsLayers): for the others a model too large
 * in float32 is refused as before, and "always" is the caller's to refuse. Throws ModelTooLargeError when no form
 * fits.
 */
export function chooseLayerStreaming(
  estimate: MemoryEstimate,
  mode: "auto" | "always" | "never" = "auto",
  backend: string = activeBackendName(),
  familyStreams = true,
  capacity: BackendCapacity = backendCapacity(backend),
): boolean {
  const streaming = familyStreams ? estimate.streaming : undefined;
  // Reading blocks as they are reached leaves each tensor its size: one too large for a buffer is refused by name.
  const tensorFits = () => throwIfTensorTooLarge(estimate, backend, capacity, backendReport());
  if (mode === "always" && streaming) {
    tensorFits();
    return true;
  }
  if (mode !== "always" && fitsOn(estimate, capacity)) return false;
  if (mode === "never" || !streaming) {
    checkMemoryFits(estimate, backend, backendReport(), capacity);
    return false;
  }
  tensorFits();
  const needed = streamedBytesNeededOn(streaming, backend);
  if (needed <= capacity.totalBytes) return true;
  throw new ModelTooLargeError(needed, backend, capacity.totalBytes, backendsThatFit(estimate, backend, backendReport()), true);
}
