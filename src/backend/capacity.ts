// What each backend can hold, for the memory check that runs before a model loads (io/memory-estimate.ts).
// Backend names are compared here, inside backend/, so that io/ only asks for capacities.
import os from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { activeGpuDevice } from "./webgpu";
import { nativeStatus } from "./native/runtime";
import type { SelectionReport } from "./types";

/** tfjs-backend-wasm's heap is 32-bit WebAssembly memory, capped at 4 GiB − 64 KiB by its build. */
export const WASM_HEAP_BYTES = 4294901760;

/** What a model needs, as io/memory-estimate.ts's MemoryEstimate gives it. */
export interface MemoryNeed {
  totalBytes: number;
  /** Bytes of the matrices the forward pass multiplies by (wasm keeps a packed copy of each). */
  matrixBytes: number;
  largestTensor: { name: string; bytes: number };
  /**
   * Float32 bytes of the BF16/F16 matrices a backend with packed weights keeps at 2 bytes per value (half of this
   * figure is saved there); the largest of them as packed, and the largest other tensor (float32). Absent: none.
   */
  packable?: { float32Bytes: number; largestPacked: { name: string; bytes: number }; largestOther: { name: string; bytes: number } };
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

/** The name of the active tfjs backend (for reports; the engine asks capability() instead of comparing it). */
export function activeBackendName(): string {
  return tf.getBackend();
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
      // cpu, cpu-native, tensorflow: tensors live in this process's memory; the estimate's margin covers activations.
      const host = hostMemoryBytes();
      return { backend: name, totalBytes: host.bytes, maxTensorBytes: Infinity, source: host.source };
    }
  }
}

/**
 * Whether `backend` keeps BF16/F16 weight matrices packed (2 bytes per value): webgpu, unless LMPROBE_PACKED_WEIGHTS
 * is "0" (backend/packed-weight.ts; the loader asks packedWeightsEnabled(), which checks the same two things).
 */
export function packsWeights(backend: string): boolean {
  return backend === "webgpu" && process.env.LMPROBE_PACKED_WEIGHTS !== "0";
}

/**
 * Bytes the model needs on `backend`: on wasm the weight matrices also have XNNPACK's packed copies; where weights
 * stay packed, 16-bit matrices take half their float32 bytes.
 */
export function bytesNeededOn(need: MemoryNeed, backend: string): number {
  const packedSaving = packsWeights(backend) && need.packable ? need.packable.float32Bytes / 2 : 0;
  return need.totalBytes - packedSaving + (backend === "wasm" ? need.matrixBytes : 0);
}

/** The largest tensor the backend will hold for this model (packed where the backend packs it). */
export function largestTensorOn(need: MemoryNeed, backend: string): { name: string; bytes: number } {
  if (!packsWeights(backend) || !need.packable) return need.largestTensor;
  const { largestPacked, largestOther } = need.packable;
  return largestPacked.bytes >= largestOther.bytes ? largestPacked : largestOther;
}

/** Bytes a streamed (block-at-a-time) model needs on `backend`: wasm also packs the resident weight matrices. */
export function streamedBytesNeededOn(streaming: { totalBytes: number; residentMatrixBytes: number }, backend: string): number {
  return streaming.totalBytes + (backend === "wasm" ? streaming.residentMatrixBytes : 0);
}

/** Whether the model's need fits what the backend holds, in total and per tensor. */
export function fitsOn(need: MemoryNeed, capacity: BackendCapacity): boolean {
  return bytesNeededOn(need, capacity.backend) <= capacity.totalBytes && largestTensorOn(need, capacity.backend).bytes <= capacity.maxTensorBytes;
}

/**
 * The other backends that could hold the model, among those installed here, in the order lmprobe prefers them.
 * WebGPU is offered only where an adapter was found, or was not looked for (`report`: the last backend selection).
 */
export function backendsThatFit(need: MemoryNeed, active: string, report: SelectionReport | null = null): string[] {
  const out: string[] = [];
  const tensorflowInstalled = packageInstalled("@tensorflow/tfjs-node-gpu") || packageInstalled("@tensorflow/tfjs-node");
  if (active !== "tensorflow" && tensorflowInstalled && fitsOn(need, backendCapacity("tensorflow"))) out.push("tensorflow");
  const webgpu = report?.candidates.find((c) => c.name === "webgpu");
  const webgpuHere = webgpu ? webgpu.available || webgpu.status === "skipped" : packageInstalled("webgpu");
  if (active !== "webgpu" && packageInstalled("webgpu") && webgpuHere) {
    out.push(webgpu?.available ? "webgpu (if the GPU has enough memory)" : "webgpu (if `lmprobe doctor` finds a GPU adapter with enough memory)");
  }
  if (active !== "cpu-native" && nativeStatus().available && fitsOn(need, backendCapacity("cpu-native"))) out.push("cpu-native");
  if (active !== "wasm" && fitsOn(need, backendCapacity("wasm"))) out.push("wasm");
  if (active !== "cpu" && fitsOn(need, backendCapacity("cpu"))) out.push("cpu");
  return out;
}
