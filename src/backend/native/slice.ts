// Slice on cpu-native: tfjs-backend-cpu slices a region that is not one contiguous run element by element
// (index arithmetic per value), which made the slices of rotary halves 80 % of a Llama-style forward pass. Here
// each run of the innermost sliced axis is one TypedArray copy. No onnxruntime call: a copy needs no BLAS.
import type * as tf from "@tensorflow/tfjs-core";
import type { CpuBackendApi } from "./kernels";

type SliceArgs = { inputs: Record<string, tf.TensorInfo>; backend: CpuBackendApi; attrs: Record<string, unknown> };

/** The sliced region of `x` (attrs begin, size; size −1 = to the end), or null to let the cpu kernel do it. */
export function fastSlice({ inputs, backend, attrs }: SliceArgs): tf.TensorInfo | null {
  const x = inputs.x;
  const values = backend.data.get(x.dataId).values;
  if (!values || Array.isArray(values) || x.dtype === "string" || x.dtype === "complex64") return null;
  const rank = x.shape.length;
  const beginAttr = attrs.begin as number | number[];
  const sizeAttr = attrs.size as number | number[];
  const begin = Array.isArray(beginAttr) ? beginAttr : [beginAttr];
  const rawSize = Array.isArray(sizeAttr) ? sizeAttr : [sizeAttr];
  if (rank === 0 || begin.length !== rank || rawSize.length !== rank) return null;
  const size = rawSize.map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
  if (size.some((s, i) => s < 0 || begin[i] < 0 || begin[i] + s > x.shape[i])) return null;
  const total = size.reduce((a, b) => a * b, 1);
  const src = values as unknown as { subarray(a: number, b: number): ArrayLike<number>; constructor: new (n: number) => Float32Array };
  const out = new (src.constructor as new (n: number) => { set(a: ArrayLike<number>, o: number): void })(total);
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * x.shape[i + 1];
  const run = size[rank - 1];
  const rows = total / Math.max(run, 1);
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows && run > 0; r++) {
    let offset = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) offset += (begin[d] + index[d]) * strides[d];
    out.set(src.subarray(offset, offset + run), r * run);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return backend.makeTensorInfo(size, x.dtype, out as unknown as ArrayLike<number>);
}
