// Weights kept on the device as the checkpoint stores them: bfloat16 or float16, two values per 32-bit word, half
// the memory of float32. A PackedWeight is not a tf.Tensor on purpose: tfjs ops cannot read it, so code that needs
// float32 values must ask for them (float32Weight) and the type checker finds every such place; nothing can
// multiply the raw words by mistake. The products and lookups here widen the values inside the kernels
// (backend/kernels/packed-programs.ts) and compute in float32, the numbers of a float32 copy of the same values.
//
// Storage: `words` is an int32 tensor [rows, ceil(cols / 2)] of the matrix as stored on disk, row-major, element
// 2i in the low half of word i; a row of odd length ends in a word whose high half is zero. `transposed` marks a
// weight whose logical (canonical) shape is the transpose of the stored one: nn.Linear weights stay [out, in] as
// Hugging Face stores them, and are read as [in, out] by a transposed product, with no copy.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, LmprobeError } from "../errors";
import { differentiableOpsRequired } from "./gradient-mode";
import { PACKED_MATMUL_KERNEL, UNPACK_KERNEL, planPackedMatMul, type PackedMatMulAttrs } from "./kernels/packed";
import { SEGMENTED_MATMUL_KERNEL, segmentedPlanned, segmentedUnitsPlan, type SegmentedMatMulAttrs } from "./kernels/segmented";
import type { HalfFormat } from "./kernels/packed-programs";
import type { FusedActivation } from "./kernels/row-programs";
import { uploadInSlices, uploadInSlicesSync, valuesInMemory, type HalfValues, type UploadJob } from "./packed-upload";

export type { HalfFormat } from "./kernels/packed-programs";

/**
 * A bfloat16 or float16 matrix kept on the GPU as stored in the checkpoint (webgpu): `shape` is its logical shape,
 * as a float32 tensor of it would have. Not a tfjs tensor: read it with float32Weight().
 */
export class PackedWeight {
  readonly kind = "packed";
  constructor(
    /** int32 [storedRows, ceil(storedCols / 2)]. */
    readonly words: tf.Tensor2D,
    readonly format: HalfFormat,
    /** [rows, cols] as stored (before `transposed`). */
    readonly stored: readonly [number, number],
    readonly transposed: boolean,
    /**
     * First row of `words` that belongs to this weight: a range of rows of another weight (weightRowRange) is a view
     * onto its words, since tfjs's own ops (slice, gather) would pass the words through float32 and round them.
     */
    readonly rowOffset = 0,
  ) {}

  /** True while loadModel has allocated the words but not yet written them (withDeferredWeightUploads). */
  pendingUpload = false;

  /** Whether this weight owns its words (a view of another weight's rows does not). */
  get ownsWords(): boolean {
    return this.rowOffset === 0 && this.words.shape[0] === this.stored[0];
  }

  /** The logical shape, as a float32 tensor of this weight would have. */
  get shape(): [number, number] {
    const [r, c] = this.stored;
    return this.transposed ? [c, r] : [r, c];
  }

  get rank(): 2 {
    return 2;
  }

  get size(): number {
    return this.stored[0] * this.stored[1];
  }

  get isDisposed(): boolean {
    return this.words.isDisposed;
  }

  dispose(): void {
    if (this.ownsWords) this.words.dispose();
  }
}

/** A 2-D weight: a float32 tensor, or a packed one on a backend with the packed kernels. */
export type Weight2D = tf.Tensor2D | PackedWeight;

/** Whether a weight (model.weights' W_Q, W_E, W_U, …) is a PackedWeight rather than a float32 tensor. */
export function isPacked(w: unknown): w is PackedWeight {
  return w instanceof PackedWeight;
}

/**
 * Whether weights may be kept packed: the active backend has the packed kernels (webgpu), and
 * LMPROBE_PACKED_WEIGHTS is not "0" (set it to compare with float32 weights).
 */
export function packedWeightsEnabled(): boolean {
  return process.env.LMPROBE_PACKED_WEIGHTS !== "0" && tf.getKernel(PACKED_MATMUL_KERNEL, tf.getBackend()) != null;
}

function requireKernels(what: string, W?: PackedWeight): void {
  if (W?.pendingUpload) uploadPendingNow(W, what);
  if (tf.getKernel(PACKED_MATMUL_KERNEL, tf.getBackend()) == null) {
    throw new LmprobeError(`${what}: this weight is packed (16-bit) and the ${tf.getBackend()} backend has no kernels that read packed weights`, "load the model again on this backend (weights are packed only on webgpu)");
  }
}

/**
 * Packs 16-bit values (bfloat16 or float16 bit patterns) of a matrix stored [rows, cols] into words and puts them
 * on the device. `halves` may be any byte-aligned view; it is not kept.
 */
export function packWeight(halves: Uint16Array, stored: [number, number], format: HalfFormat, transposed: boolean): PackedWeight {
  const [rows, cols] = stored;
  if (halves.length !== rows * cols) throw new ArgumentError("halves", `has ${halves.length} values`, `pass rows × cols = ${rows * cols}`);
  requireKernels("packWeight");
  const tensor = tf.tensor2d(toWords(halves, rows, cols), [rows, Math.ceil(cols / 2)], "int32");
  uploadNow(tensor);
  return new PackedWeight(tensor, format, [rows, cols], transposed);
}

/** Two 16-bit values per word, each row starting on a word (an odd row's last high half is 0). */
function toWords(halves: Uint16Array, rows: number, cols: number): Int32Array {
  if (halves.length !== rows * cols) throw new ArgumentError("halves", `has ${halves.length} values`, `pass rows × cols = ${rows * cols}`);
  const perRow = Math.ceil(cols / 2);
  if (cols % 2 === 0 && halves.byteOffset % 4 === 0) return new Int32Array(halves.buffer, halves.byteOffset, rows * perRow);
  const words = new Int32Array(rows * perRow);
  const target = new Uint16Array(words.buffer);
  for (let r = 0; r < rows; r++) target.set(halves.subarray(r * cols, (r + 1) * cols), r * perRow * 2);
  return words;
}

/** The weights waiting for withDeferredWeightUploads to write them (with their values), or null outside one. */
let pendingUploads: Map<PackedWeight, HalfValues> | null = null;
/** Every pending weight's values, so that one used during the build (a converter widening it) is written at once. */
const pendingReaders = new WeakMap<PackedWeight, HalfValues>();

function uploadJob(weight: PackedWeight, values: HalfValues): UploadJob {
  return {
    buffer: () => deviceBuffer(weight.words),
    stored: weight.stored,
    values,
    skip: () => !weight.pendingUpload || weight.isDisposed,
    done: () => {
      weight.pendingUpload = false;
    },
  };
}

/** Reads and writes a pending weight now: a converter computes on it before the build has ended. */
function uploadPendingNow(W: PackedWeight, what: string): void {
  const values = pendingReaders.get(W);
  if (!values) throw new LmprobeError(`${what}: this packed weight's values were never uploaded`, "load the model with loadModel()");
  uploadInSlicesSync(uploadJob(W, values), webgpuInternals().device.queue);
  pendingReaders.delete(W);
}

/**
 * packWeight, but inside withDeferredWeightUploads the values are read (from `values`: ranges of the checkpoint's
 * tensor, or a function giving them whole) and written only after the model is built, a slice at a time
 * (backend/packed-upload.ts). Outside one, reads and uploads at once.
 */
export function packWeightLater(values: HalfValues | (() => Uint16Array), stored: [number, number], format: HalfFormat, transposed: boolean): PackedWeight {
  requireKernels("packWeightLater");
  const ranges = typeof values === "function" ? valuesInMemory(values) : values;
  if (!pendingUploads) {
    const halves = new Uint16Array(stored[0] * stored[1]);
    ranges.readSync(0, halves);
    return packWeight(halves, stored, format, transposed);
  }
  const weight = new PackedWeight(deviceTensorWithoutValues([stored[0], Math.ceil(stored[1] / 2)]), format, stored, transposed);
  weight.pendingUpload = true;
  pendingUploads.set(weight, ranges);
  pendingReaders.set(weight, ranges);
  return weight;
}

/**
 * Builds a model with its packed weights' uploads deferred (packWeightLater), then writes them a slice of rows at
 * a time (uploadInSlices): a synchronous load would keep every upload's staging copy in host memory until it
 * ended, since Dawn frees them only when it processes completed work, which it does while JavaScript awaits.
 * Host memory during the load is then two slices (64 MiB each by default) plus 256 MiB of staging, whatever the
 * model's size. If a read fails (a non-finite weight), the model is disposed and the error thrown.
 */
export async function withDeferredWeightUploads<T>(build: () => T, dispose: (built: T) => void): Promise<T> {
  if (pendingUploads) throw new LmprobeError("withDeferredWeightUploads: already inside one", "build one model at a time");
  const uploads = new Map<PackedWeight, HalfValues>();
  pendingUploads = uploads;
  let built: T;
  try {
    built = build();
  } finally {
    pendingUploads = null;
  }
  if (uploads.size === 0) return built;
  const jobs = [...uploads].map(([weight, values]) => uploadJob(weight, values));
  for (const weight of uploads.keys()) pendingReaders.delete(weight);
  uploads.clear();
  try {
    await uploadInSlices(jobs, webgpuInternals().device.queue);
  } catch (e) {
    dispose(built);
    throw e;
  }
  return built;
}

interface WebgpuBackendInternals {
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorMap: { get(dataId: object): { resource?: unknown } };
  device: GPUDevice;
}

function webgpuInternals(): WebgpuBackendInternals {
  const backend = tf.backend() as unknown as Partial<WebgpuBackendInternals>;
  if (!backend.makeTensorInfo || !backend.uploadToGPU || !backend.tensorMap || !backend.device) {
    throw new LmprobeError(`deferred weight uploads need the webgpu backend, not ${tf.getBackend()}`, "load the model with { backend: \"webgpu\" }");
  }
  return backend as WebgpuBackendInternals;
}

/** An int32 tensor whose device buffer is allocated but not written (its contents are undefined until written). */
function deviceTensorWithoutValues(shape: [number, number]): tf.Tensor2D {
  const backend = webgpuInternals();
  const info = backend.makeTensorInfo(shape, "int32");
  backend.uploadToGPU(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor2D;
}

function deviceBuffer(t: tf.Tensor): GPUBuffer {
  return webgpuInternals().tensorMap.get(t.dataId).resource as GPUBuffer;
}

/**
 * Moves a new tensor's values to the device now rather than at first use, so the host array can be collected
 * before the next weight is read (the backend drops its host copy once uploaded).
 */
function uploadNow(t: tf.Tensor): void {
  const backend = tf.backend() as unknown as { uploadToGPU?: (dataId: object) => void; submitQueue?: () => void; commandEncoder?: unknown };
  backend.uploadToGPU?.(t.dataId);
  // A reused buffer is filled through a staging copy recorded in the pending commands: submit it now, so the staging
  // buffer is released rather than held until the load ends. (A new buffer is written while mapped: nothing to submit.)
  // The pending commands may hold an open compute pass (ops recorded just before); lmprobe's submitQueue
  // (lean-dispatch.ts) ends it first, since finishing a command buffer around an open pass invalidates it, dispatches
  // and all.
  if (backend.commandEncoder) backend.submitQueue?.();
}

function matMulAttrs(W: PackedWeight, layout: "nn" | "nt"): PackedMatMulAttrs {
  const [rows, cols] = W.stored;
  // nn: stored [K, N]; nt: stored [N, K].
  const common = { layout, format: W.format, rowOffset: W.rowOffset };
  return layout === "nn" ? { ...common, K: rows, N: cols } : { ...common, N: rows, K: cols };
}

/** x [M, K] · W for W of logical shape [K, N] (float32 or packed); + bias [N], + residual [M, N] when given. */
export function weightMatMul(x: tf.Tensor2D, W: Weight2D, bias: tf.Tensor1D | null = null, residual: tf.Tensor2D | null = null): tf.Tensor2D {
  if (!isPacked(W)) return compose(tf.matMul(x, W), bias, residual);
  return packedProduct(x, W, false, bias, residual);
}

/**
 * x [M, K] · [W0 | W1 | …] (+ each weight's bias): one [M, ΣN] product in one dispatch where the backend has the
 * segmented kernel (webgpu) and the shapes suit it (kernels/segmented.ts), else null (then call weightMatMul per
 * weight). The weights must be alike (all float32 [K, N_s], or all packed in one format and orientation), and the
 * biases all given or all null. Each output column is the same multiply-adds as in weightMatMul's product.
 * `onUnitsOnly`: null unless the GPU's matrix units run the joint product (kernels/segmented.ts's segmentedUnitsPlan).
 * `activation`: act(product) is returned instead (with `gated`, two weights gate | up of one width: act(x·W_gate +
 * b_gate) · (x·W_up + b_up), [M, F]), applied by the split-K sum where the product splits: a pass fewer.
 */
export function weightsMatMul(
  x: tf.Tensor2D,
  Ws: readonly Weight2D[],
  biases: readonly (tf.Tensor1D | null)[],
  onUnitsOnly = false,
  activation: { act: FusedActivation; gated: boolean } | null = null,
): tf.Tensor2D | null {
  if (tf.getKernel(SEGMENTED_MATMUL_KERNEL, tf.getBackend()) == null || differentiableOpsRequired()) return null;
  if (process.env.LMPROBE_WEBGPU_MATMUL === "tfjs" || process.env.LMPROBE_WEBGPU_FUSED === "off") return null;
  if (x.rank !== 2 || x.dtype !== "float32" || Ws.length !== biases.length) return null;
  let attrs: SegmentedMatMulAttrs;
  if (Ws.every(isPacked)) {
    const first = Ws[0];
    const layout = first.transposed ? "nt" : "nn";
    if (Ws.some((W) => W.transposed !== first.transposed || W.format !== first.format || W.rowOffset !== 0)) return null;
    const parts = Ws.map((W) => matMulAttrs(W, layout));
    if (parts.some((p) => p.K !== parts[0].K)) return null;
    attrs = { layout, format: first.format, K: parts[0].K, widths: parts.map((p) => p.N) };
  } else if (Ws.some(isPacked)) {
    return null;
  } else {
    const F = Ws as readonly tf.Tensor2D[];
    if (F.some((W) => W.rank !== 2 || W.dtype !== "float32" || W.shape[0] !== F[0].shape[0])) return null;
    attrs = { layout: "nn", format: null, K: F[0].shape[0], widths: F.map((W) => W.shape[1]) };
  }
  if (x.shape[1] !== attrs.K) return null;
  const hasBias = biases.every((b) => b != null);
  if (!hasBias && biases.some((b) => b != null)) return null;
  if (hasBias && biases.some((b, i) => b!.dtype !== "float32" || b!.size !== attrs.widths[i])) return null;
  if (activation) {
    if (activation.gated && (attrs.widths.length !== 2 || attrs.widths[0] !== attrs.widths[1])) return null;
    attrs = { ...attrs, activation: activation.act, gated: activation.gated };
  }
  if (onUnitsOnly ? segmentedUnitsPlan(x.shape[0], attrs) == null : !segmentedPlanned(x.shape[0], attrs)) return null;
  const inputs: tf.NamedTensorMap = { a: x };
  Ws.forEach((W, i) => {
    if (isPacked(W)) requireKernels("weightsMatMul", W);
    inputs[`b${i}`] = isPacked(W) ? W.words : W;
  });
  if (hasBias) biases.forEach((b, i) => (inputs[`bias${i}`] = b!));
  return tf.engine().runKernel(SEGMENTED_MATMUL_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** x [M, K] · Wᵀ for W of logical shape [N, K] (a tied unembedding's W_E). */
export function weightMatMulTransposed(x: tf.Tensor2D, W: Weight2D): tf.Tensor2D {
  if (!isPacked(W)) return tf.matMul(x, W, false, true);
  return packedProduct(x, W, true, null, null);
}

/** (y + bias) + residual, in the order of the separate adds; intermediates are disposed. */
function compose(y: tf.Tensor2D, bias: tf.Tensor1D | null, residual: tf.Tensor2D | null): tf.Tensor2D {
  if (!bias && !residual) return y;
  return tf.tidy(() => {
    let out: tf.Tensor2D = bias ? tf.add(y, bias) : y;
    if (residual) out = tf.add(residual, out);
    y.dispose();
    return out;
  });
}

/** x · W (or x · Wᵀ when `transposeW`) for a packed W; the stored orientation picks the kernel's layout. */
function packedProduct(x: tf.Tensor2D, W: PackedWeight, transposeW: boolean, bias: tf.Tensor1D | null, residual: tf.Tensor2D | null): tf.Tensor2D {
  // Stored [K, N] is read as is ("nn"); stored [N, K] is read transposed ("nt").
  const layout = W.transposed !== transposeW ? "nt" : "nn";
  if (x.rank !== 2) throw new ArgumentError("x", `has shape [${x.shape}]`, "pass a [rows, inner] matrix");
  const attrs = matMulAttrs(W, layout);
  if (x.shape[1] !== attrs.K) throw new ArgumentError("x", `has inner size ${x.shape[1]} but the weight's is ${attrs.K}`, "check the weight belongs to this layer");
  requireKernels("weightMatMul", W);
  // Gradients flow through tfjs ops only: widen the weight (a constant of the graph) and multiply with tf.matMul.
  if (differentiableOpsRequired() || x.dtype !== "float32") {
    return tf.tidy(() => compose(tf.matMul(x, float32Weight(W), false, transposeW), bias, residual));
  }
  const plan = planPackedMatMul(x.shape, attrs);
  const epilogue = plan != null && plan.batch === 1 && (!bias || bias.size === attrs.N);
  const inputs: tf.NamedTensorMap = { a: x, b: W.words };
  if (epilogue && bias) inputs.bias = bias;
  if (epilogue && residual) inputs.residual = residual;
  const y = tf.engine().runKernel(PACKED_MATMUL_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  return epilogue ? y : compose(y, bias, residual);
}

function unpackAttrs(W: PackedWeight) {
  return { rows: W.stored[0], cols: W.stored[1], format: W.format, rowOffset: W.rowOffset };
}

/** tf.gather(W, ids) along axis 0 for ids of any shape: [...ids.shape, cols] (an embedding lookup). */
export function weightGather(W: Weight2D, ids: tf.Tensor | number[]): tf.Tensor {
  if (!isPacked(W)) return tf.gather(W, ids);
  return tf.tidy(() => {
    const t = Array.isArray(ids) ? tf.tensor1d(ids, "int32") : ids;
    return tf.reshape(weightRows(W, tf.reshape(t, [-1]) as tf.Tensor1D), [...t.shape, W.shape[1]]);
  });
}

/**
 * Row `index` (axis 0) or column `index` (axis 1) of W's logical matrix as float32 [n]: one unembedding direction.
 * A packed weight widens only that vector when it lies along a stored row, else the whole matrix (transiently).
 */
export function weightVector(W: Weight2D, axis: 0 | 1, index: number): tf.Tensor1D {
  if (!Number.isInteger(index) || index < 0 || index >= W.shape[axis]) {
    throw new ArgumentError("index", `is ${index}`, `use an integer in [0, ${W.shape[axis]})`);
  }
  return tf.tidy(() => {
    const alongStoredRow = isPacked(W) && (axis === 0) !== W.transposed;
    if (isPacked(W) && alongStoredRow) {
      const stored = new PackedWeight(W.words, W.format, W.stored, false, W.rowOffset);
      return tf.reshape(weightRows(stored, tf.tensor1d([index], "int32")), [-1]) as tf.Tensor1D;
    }
    const f = float32Weight(W);
    const begin = axis === 0 ? [index, 0] : [0, index];
    const size = axis === 0 ? [1, -1] : [-1, 1];
    return tf.reshape(tf.slice(f, begin, size), [-1]) as tf.Tensor1D;
  });
}

/** The rows `ids` [n] (int32) of W's logical matrix, float32 [n, cols]: an embedding lookup. */
export function weightRows(W: Weight2D, ids: tf.Tensor1D): tf.Tensor2D {
  if (!isPacked(W)) return tf.gather(W, ids);
  requireKernels("weightRows", W);
  if (W.transposed) return tf.tidy(() => tf.gather(float32Weight(W), ids));
  return tf.tidy(() => {
    const idsInt = ids.dtype === "int32" ? ids : tf.cast(ids, "int32");
    return tf.engine().runKernel(UNPACK_KERNEL, { W: W.words, ids: idsInt }, { ...unpackAttrs(W), mode: "ids" } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  });
}

/**
 * W's values as a float32 tensor of its logical shape: W itself when it is one, else a new tensor widened on the
 * device (call inside tf.tidy, or dispose it when W was packed). For probes and interventions that do arithmetic on
 * weights (direct logit attribution, weight edits, gradients): exact, since widening 16-bit floats is.
 */
export function float32Weight(W: Weight2D): tf.Tensor2D {
  if (!isPacked(W)) return W;
  requireKernels("float32Weight", W);
  return tf.engine().runKernel(UNPACK_KERNEL, { W: W.words }, { ...unpackAttrs(W), mode: W.transposed ? "transposed" : "whole" } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * The logical rows [start, end) of W (a vocabulary chunk of an unembedding): for a packed W a view onto its words
 * (no copy, valid while W is; disposing it does nothing), else a new float32 tensor (call inside tf.tidy).
 */
export function weightRowRange(W: Weight2D, start: number, end: number): Weight2D {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= W.shape[0])) {
    throw new ArgumentError("rows", `[${start}, ${end}) is not a range of the weight's ${W.shape[0]} rows`);
  }
  if (!isPacked(W)) return tf.slice(W, [start, 0], [end - start, W.shape[1]]);
  if (W.transposed) return tf.tidy(() => tf.slice(float32Weight(W), [start, 0], [end - start, W.shape[1]]));
  return new PackedWeight(W.words, W.format, [end - start, W.stored[1]], false, W.rowOffset + start);
}

/**
 * The logical columns [start, end) of W: for a packed W stored transposed (an untied W_U, [vocab, d] on disk) a view
 * onto its stored rows; otherwise as weightRowRange does for rows.
 */
export function weightColumnRange(W: Weight2D, start: number, end: number): Weight2D {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= W.shape[1])) {
    throw new ArgumentError("columns", `[${start}, ${end}) is not a range of the weight's ${W.shape[1]} columns`);
  }
  if (isPacked(W) && W.transposed) return new PackedWeight(W.words, W.format, [end - start, W.stored[1]], true, W.rowOffset + start);
  return tf.tidy(() => tf.slice(float32Weight(W), [0, start], [W.shape[0], end - start]));
}

/** The logical columns `ids` of W as rows: float32 [n, rows of W] (W_U's columns for given token ids). */
export function weightColumnsAsRows(W: Weight2D, ids: tf.Tensor1D): tf.Tensor2D {
  if (isPacked(W) && W.transposed) return weightRows(new PackedWeight(W.words, W.format, W.stored, false, W.rowOffset), ids);
  return tf.tidy(() => tf.transpose(tf.gather(float32Weight(W), ids, 1)) as tf.Tensor2D);
}

/** Bytes a weight holds on its backend. */
export function weightBytes(W: Weight2D): number {
  return isPacked(W) ? Math.ceil(W.stored[1] / 2) * W.stored[0] * 4 : W.size * 4;
}
