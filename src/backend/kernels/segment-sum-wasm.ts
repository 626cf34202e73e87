// UnsortedSegmentSum for tfjs-wasm, which has none. tfjs-core's gradient of gather (the MoE experts' token
// gathers, a metric that gathers logits) scatters with it, so without it a gradient on wasm stops with "kernel not
// registered". Computed on the host over the wasm heap's copy: the tensors involved are [tokens, d_model]-sized.
import * as tf from "@tensorflow/tfjs-core";

interface WasmBackendApi {
  readSync(dataId: tf.DataId): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array | Int32Array): tf.TensorInfo;
}

/** Registers the kernel on wasm unless it exists (idempotent). */
export function registerWasmSegmentSum(): void {
  // (No tf.findBackend("wasm") here: it would start initialising that backend and block the active one meanwhile.)
  if (tf.getKernel("UnsortedSegmentSum", "wasm")) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const wasm = backend as unknown as WasmBackendApi;
      const values = wasm.readSync(x.dataId);
      const ids = wasm.readSync(segmentIds.dataId);
      // x [n, ...inner] summed into [numSegments, ...inner] by segment id (ids of the first axis; out-of-range ids dropped, as tf does).
      const inner = x.shape.slice(1).reduce((a, b) => a * b, 1);
      const out = x.dtype === "int32" ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
      for (let i = 0; i < ids.length; i++) {
        const s = ids[i];
        if (s < 0 || s >= numSegments) continue;
        for (let j = 0; j < inner; j++) out[s * inner + j] += values[i * inner + j];
      }
      return wasm.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype, undefined, out);
    },
  });
}
