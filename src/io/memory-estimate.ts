// Knows the limits before loading: from the safetensors headers alone, the bytes the model's weights take
// as float32 tensors plus a margin for activations, compared with what the active tfjs backend can hold.
// Loading is refused (ModelTooLargeError) before a single weight is read, instead of failing half-way
// with an out-of-memory abort that takes the notebook kernel down with it.
import os from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { activeGpuDevice, backendReport, type SelectionReport } from "../backend";
import { ModelTooLargeError } from "../errors";
import type { WeightSource } from "./weight-source";

/** tfjs-backend-wasm's heap is 32-bit WebAssembly memory, capped at 4 GiB − 64 KiB by its build. */
export const WASM_HEAP_BYTES = 4294901760;

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
  /** Bytes of the weights as stored when they are quantised (GGUF blocks); absent for float checkpoints. */
  storedBytes?: number;
  /**
   * Quantised checkpoints only: what the backend needs when blocks are dequantised as the forward pass reaches
   * them (at most two resident): every weight outside the blocks in float32, the two largest blocks, the margin.
   * The quantised blocks themselves stay in the file (read through the OS page cache), not in the backend.
   */
  streaming?: { totalBytes: number; layerBytes: number; residentMatrixBytes: number };
}

const LAYER_NAME = /^model\.layers\.(\d+)\./;

/** Embedding tables are read by gather, never multiplied by, so XNNPACK never packs them. */
const EMBEDDING_NAME = /(embed_tokens|embed_in|wte|wpe|embed_positions)\.weight$/;

export function estimateMemory(weights: WeightSource): MemoryEstimate {
  let weightBytes = 0;
  let matrixBytes = 0;
  let largestTensor = { name: "", bytes: 0 };
  let storedBytes: number | undefined;
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
  }
  const marginBytes = Math.max(128 * 1024 * 1024, Math.ceil(weightBytes * 0.15));
  const estimate: MemoryEstimate = { weightBytes, marginBytes, totalBytes: weightBytes + marginBytes, matrixBytes, largestTensor };
  if (storedBytes === undefined) return estimate;
  const allLayers = [...layerBytes.values()].reduce((a, b) => a + b, 0);
  const largestLayer = Math.max(0, ...layerBytes.values());
  const resident = weightBytes - allLayers + Math.min(layerBytes.size, 2) * largestLayer;
  const streamingMargin = Math.max(128 * 1024 * 1024, Math.ceil(resident * 0.15));
  return {
    ...estimate,
    storedBytes,
    streaming: { totalBytes: resident + streamingMargin, layerBytes: largestLayer, residentMatrixBytes: outsideMatrixBytes + Math.min(layerBytes.size, 2) * largestLayer },
  };
}

export interface BackendCapacity {
  backend: string;
  /** Bytes of tensors the backend can hold in total (Infinity when it cannot be known, e.g. GPU memory). */
  totalBytes: number;
  /** Largest single tensor, where the backend limits it (WebGPU's maxBufferSize), else Infinity. */
  maxTensorBytes: number;
  /** Why the figure is what it is, for messages and `lmprobe doctor`. */
  source: string;
}

/** Host memory a process may still use: available memory, bounded by a cgroup limit when there is one. */
function hostMemoryBytes(): { bytes: number; source: string } {
  const available = os.freemem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  if (constrained && constrained > 0 && constrained < available + process.memoryUsage().rss) {
    return { bytes: Math.max(0, constrained - process.memoryUsage().rss), source: "cgroup memory limit less this process's use" };
  }
  return { bytes: available, source: "available host memory" };
}

function packageInstalled(name: string): boolean {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** What a backend can hold. `name` defaults to the active tfjs backend. */
export function backendCapacity(name: string = tf.getBackend()): BackendCapacity {
  switch (name) {
    case "wasm": {
      // Bytes the heap already holds (other models, cached activations) are not available to this one.
      const inUse = tf.getBackend() === "wasm" ? tf.memory().numBytes : 0;
      return { backend: name, totalBytes: WASM_HEAP_BYTES - inUse, maxTensorBytes: Infinity, source: "tfjs-backend-wasm's 4 GiB heap cap" };
    }
    case "webgpu": {
      const device = activeGpuDevice();
      const maxTensorBytes = device ? Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize) : Infinity;
      return { backend: name, totalBytes: Infinity, maxTensorBytes, source: "GPU memory is not reported by WebGPU; largest buffer from the adapter's limits" };
    }
    default: {
      const host = hostMemoryBytes();
      return { backend: name, totalBytes: host.bytes, maxTensorBytes: Infinity, source: host.source };
    }
  }
}

/** Bytes the model needs on `backend`: on wasm the weight matrices also have XNNPACK's packed copies. */
export function bytesNeededOn(estimate: MemoryEstimate, backend: string): number {
  return estimate.totalBytes + (backend === "wasm" ? estimate.matrixBytes : 0);
}

function fits(estimate: MemoryEstimate, capacity: BackendCapacity): boolean {
  return bytesNeededOn(estimate, capacity.backend) <= capacity.totalBytes && estimate.largestTensor.bytes <= capacity.maxTensorBytes;
}

/** The other backends that could hold the model, among those installed here. */
function backendsThatFit(estimate: MemoryEstimate, active: string, report: SelectionReport | null): string[] {
  const out: string[] = [];
  const tensorflowInstalled = packageInstalled("@tensorflow/tfjs-node-gpu") || packageInstalled("@tensorflow/tfjs-node");
  if (active !== "tensorflow" && tensorflowInstalled && fits(estimate, backendCapacity("tensorflow"))) out.push("tensorflow");
  // WebGPU only where an adapter was found (or was not looked for): never on a machine known to have no GPU.
  const webgpu = report?.candidates.find((c) => c.name === "webgpu");
  const webgpuHere = webgpu ? webgpu.available || webgpu.status === "skipped" : packageInstalled("webgpu");
  if (active !== "webgpu" && packageInstalled("webgpu") && webgpuHere) {
    out.push(webgpu?.available ? "webgpu (if the GPU has enough memory)" : "webgpu (if `lmprobe doctor` finds a GPU adapter with enough memory)");
  }
  if (active !== "wasm" && fits(estimate, backendCapacity("wasm"))) out.push("wasm");
  if (active !== "cpu" && fits(estimate, backendCapacity("cpu"))) out.push("cpu");
  return out;
}

/**
 * Throws ModelTooLargeError when the estimate exceeds what `backend` (default: the active one) can hold. The
 * fix offers only backends this machine has, as `report` (default: the last backend selection) found them.
 */
export function checkMemoryFits(estimate: MemoryEstimate, backend: string = tf.getBackend(), report: SelectionReport | null = backendReport()): void {
  const capacity = backendCapacity(backend);
  if (fits(estimate, capacity)) return;
  const tensorTooLarge = estimate.largestTensor.bytes > capacity.maxTensorBytes;
  throw new ModelTooLargeError(
    tensorTooLarge ? estimate.largestTensor.bytes : bytesNeededOn(estimate, backend),
    tensorTooLarge ? `${backend} (per-buffer limit, tensor "${estimate.largestTensor.name}")` : backend,
    tensorTooLarge ? capacity.maxTensorBytes : capacity.totalBytes,
    backendsThatFit(estimate, backend, report),
  );
}

/**
 * Whether to load with blocks dequantised as the forward pass reaches them: only for quantised checkpoints, when
 * their float32 form does not fit and the streamed form does ("auto"), or always / never when asked. Throws
 * ModelTooLargeError when neither form fits.
 */
export function chooseLayerStreaming(estimate: MemoryEstimate, mode: "auto" | "always" | "never" = "auto", backend: string = tf.getBackend()): boolean {
  const streaming = estimate.streaming;
  if (mode === "always" && streaming) return true;
  if (mode !== "always" && fits(estimate, backendCapacity(backend))) return false;
  if (mode === "never" || !streaming) {
    checkMemoryFits(estimate, backend);
    return false;
  }
  const capacity = backendCapacity(backend);
  const needed = streaming.totalBytes + (backend === "wasm" ? streaming.residentMatrixBytes : 0);
  if (needed <= capacity.totalBytes && estimate.largestTensor.bytes <= capacity.maxTensorBytes) return true;
  throw new ModelTooLargeError(needed, `${backend} (even with two blocks dequantised at a time)`, capacity.totalBytes, backendsThatFit(estimate, backend, backendReport()));
}
