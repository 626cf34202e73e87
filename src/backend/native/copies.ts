// Slice, SplitV, GatherV2, Concat and Pack on cpu-native: ops that only move values. tfjs-backend-cpu runs them element by element
// with index arithmetic per value (TensorBuffer.get/locToIndex), which made the slices of rotary halves 80 % of a
// Llama-style forward pass, an embedding lookup of 128 rows 1.5–2.5 ms, the lens's gather of target rows 36 ms
// of a 4-layer model's probe, and tf.split of [128, 2304] into three column blocks 100 ms (tfjs's SplitV calls its
// own Slice kernel directly, so that one needs its own fast version). Here every contiguous run is one TypedArray copy (or a short loop for short runs). No
// onnxruntime call: a copy needs no BLAS and is cheaper than one call's fixed cost. Anything else (strings,
// complex numbers, out-of-range indices: tfjs's kernel throws its own error) returns null and
// goes to tfjs-backend-cpu's kernel.
import * as tf from "@tensorflow/tfjs-core";
import type { CpuBackendApi } from "./kernels";

type CopyArgs = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };
type Values = { subarray(a: number, b: number): Values; set(a: Values, o: number): void; readonly length: number; [i: number]: number };
type ValuesConstructor = new (n: number) => Values;

/** The tensor's values as a typed array, or null (strings, complex numbers, plain arrays). */
function typed(backend: CpuBackendApi, t: tf.TensorInfo): Values | null {
  if (t.dtype === "string" || t.dtype === "complex64") return null;
  const values = backend.data.get(t.dataId).values;
  return values && ArrayBuffer.isView(values) ? (values as unknown as Values) : null;
}

/** Below this many elements a plain loop beats subarray() + set() (each subarray is an object). */
const SHORT_RUN = 64;

function copyRun(src: Values, from: number, dst: Values, to: number, n: number): void {
  if (n >= SHORT_RUN) dst.set(src.subarray(from, from + n), to);
  else for (let i = 0; i < n; i++) dst[to + i] = src[from + i];
}

/** The sliced region of `x` (attrs begin, size; size −1 = to the end), or null to let the cpu kernel do it. */
export function fastSlice({ inputs, backend, attrs }: CopyArgs): tf.TensorInfo | null {
  const x = inputs.x;
  const src = typed(backend, x);
  if (!src) return null;
  const rank = x.shape.length;
  const beginAttr = attrs.begin as number | number[];
  const sizeAttr = attrs.size as number | number[];
  const begin = Array.isArray(beginAttr) ? beginAttr : [beginAttr];
  const rawSize = Array.isArray(sizeAttr) ? sizeAttr : [sizeAttr];
  if (rank === 0 || begin.length !== rank || rawSize.length !== rank) return null;
  const size = rawSize.map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
  if (size.some((s, i) => s < 0 || begin[i] < 0 || begin[i] + s > x.shape[i])) return null;
  const total = size.reduce((a, b) => a * b, 1);
  const out = new (src.constructor as ValuesConstructor)(total);
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * x.shape[i + 1];
  const run = size[rank - 1];
  const rows = total / Math.max(run, 1);
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows && run > 0; r++) {
    let offset = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) offset += (begin[d] + index[d]) * strides[d];
    copyRun(src, offset, out, r * run, run);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return backend.makeTensorInfo(size, x.dtype, out as unknown as ArrayLike<number>);
}

/**
 * tf.split(x, numOrSizeSplits, axis): consecutive fastSlice blocks along the axis, sized as tfjs's op sizes them
 * (prepareSplitSize: equal parts, or the listed sizes with one −1 taking the rest).
 */
export function fastSplitV({ inputs, backend, attrs }: CopyArgs): tf.TensorInfo[] | null {
  const x = inputs.x;
  // Checked up front so that no block is made before one is refused (a refused split goes whole to tfjs's kernel).
  if (!typed(backend, x) || x.shape.length === 0) return null;
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x, attrs.numOrSizeSplits as number | number[], axis);
  if (sizes.some((s) => !(s >= 0)) || sizes.reduce((a, b) => a + b, 0) !== x.shape[axis]) return null;
  const begin = x.shape.map(() => 0);
  return sizes.map((s) => {
    const size = [...x.shape];
    size[axis] = s;
    const block = fastSlice({ inputs: { x }, backend, attrs: { begin: [...begin], size } })!;
    begin[axis] += s;
    return block;
  });
}

/**
 * tf.gather(x, indices, axis, batchDims): out[b, o, i, :] = x[b, o, indices[b, i], :] over the first batchDims
 * axes (b, shared by x and the indices), the axes before `axis` (o) and those after it (:); the output's shape is
 * x's with the axis replaced by the indices' own axes.
 */
export function fastGather({ inputs, backend, attrs }: CopyArgs): tf.TensorInfo | null {
  const { x, indices } = inputs;
  const src = typed(backend, x);
  const ids = typed(backend, indices);
  if (!src || !ids || indices.dtype !== "int32") return null;
  const rank = x.shape.length;
  const rawAxis = (attrs.axis as number | undefined) ?? 0;
  const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  const rawBatch = (attrs.batchDims as number | undefined) ?? 0;
  const batchDims = rawBatch < 0 ? rawBatch + indices.shape.length : rawBatch;
  if (rank === 0 || axis < 0 || axis >= rank || batchDims < 0 || batchDims > axis || batchDims > indices.shape.length) return null;
  if (x.shape.slice(0, batchDims).some((d, i) => d !== indices.shape[i])) return null; // tfjs's op rejects these
  const dim = x.shape[axis];
  for (let i = 0; i < ids.length; i++) if (!(ids[i] >= 0 && ids[i] < dim)) return null; // tfjs's kernel throws
  const batch = tf.util.sizeFromShape(x.shape.slice(0, batchDims));
  const outer = tf.util.sizeFromShape(x.shape.slice(batchDims, axis));
  const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
  const n = tf.util.sizeFromShape(indices.shape.slice(batchDims));
  const out = new (src.constructor as ValuesConstructor)(batch * outer * n * inner);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      const base = (b * outer + o) * dim * inner;
      const to = (b * outer + o) * n * inner;
      const first = b * n;
      if (inner === 1) for (let i = 0; i < n; i++) out[to + i] = src[base + ids[first + i]];
      else for (let i = 0; i < n; i++) copyRun(src, base + ids[first + i] * inner, out, to + i * inner, inner);
    }
  }
  const shape = [...x.shape.slice(0, axis), ...indices.shape.slice(batchDims), ...x.shape.slice(axis + 1)];
  return backend.makeTensorInfo(shape, x.dtype, out as unknown as ArrayLike<number>);
}

/** tf.concat of tensors of one dtype along `axis`: per row of the axes before it, each input's run in turn. */
export function fastConcat({ inputs, backend, attrs }: CopyArgs): tf.TensorInfo | null {
  const list = Object.values(inputs);
  if (list.length < 2) return null;
  const first = list[0];
  const rank = first.shape.length;
  const rawAxis = (attrs.axis as number | undefined) ?? 0;
  const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  if (rank === 0 || axis < 0 || axis >= rank) return null;
  const sources: Values[] = [];
  for (const t of list) {
    const values = typed(backend, t);
    // Shapes must agree off the axis (tfjs's op checked them; its kernel handles anything unusual).
    if (!values || t.dtype !== first.dtype || t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== first.shape[i])) return null;
    sources.push(values);
  }
  const outer = tf.util.sizeFromShape(first.shape.slice(0, axis));
  const runs = list.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
  const row = runs.reduce((a, b) => a + b, 0);
  const out = new (sources[0].constructor as ValuesConstructor)(outer * row);
  let offset = 0;
  sources.forEach((src, i) => {
    const run = runs[i];
    for (let o = 0; o < outer; o++) copyRun(src, o * run, out, o * row + offset, run);
    offset += run;
  });
  const shape = first.shape.map((d, i) => (i === axis ? list.reduce((s, t) => s + t.shape[axis], 0) : d));
  return backend.makeTensorInfo(shape, first.dtype, out as unknown as ArrayLike<number>);
}

/**
 * tf.stack (Pack): the inputs, each with a new axis of length 1 at `axis`, concatenated along it (the same values
 * as tfjs's kernel, which expands and concatenates element by element). Inputs are read where they lie.
 */
export function fastPack({ inputs, backend, attrs }: CopyArgs): tf.TensorInfo | null {
  const list = Object.values(inputs);
  if (list.length < 2) return null;
  const rank = list[0].shape.length + 1;
  const rawAxis = (attrs.axis as number | undefined) ?? 0;
  const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  if (axis < 0 || axis >= rank) return null;
  const expanded = list.map((t) => ({ ...t, shape: [...t.shape.slice(0, axis), 1, ...t.shape.slice(axis)] }));
  return fastConcat({ inputs: Object.fromEntries(expanded.map((t, i) => [String(i), t])), backend, attrs: { axis } });
}
