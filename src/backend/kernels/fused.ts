// The fused row kernels as functions: each returns null where the active backend has no such kernel (anything
// but webgpu) or the shapes do not suit it, and the caller then composes the tfjs ops as before. Results are
// plain tensors, tracked by the engine like any op's (tf.tidy disposes them).
import * as tf from "@tensorflow/tfjs-core";
import { ActivationProgram, MAX_ROW, NormProgram, RotaryHalfProgram, ScoresSoftmaxProgram, type FusedActivation, type NormKind } from "./row-programs";
import type { WebgpuBackendApi } from "./program";

export const NORM_KERNEL = "LmprobeNorm";
export const ACTIVATION_KERNEL = "LmprobeActivation";
export const SCORES_SOFTMAX_KERNEL = "LmprobeScoresSoftmax";
export const ROTARY_KERNEL = "LmprobeRotaryHalf";
export type { FusedActivation, NormKind } from "./row-programs";

/** The fields of a norm that the fused kernel needs (model/canonical's NormWeights has them all). */
export interface NormSpec {
  kind: NormKind;
  weight: tf.Tensor1D | null;
  bias: tf.Tensor1D | null;
  eps: number;
  weightOffset: number;
}

function available(kernel: string): boolean {
  return process.env.LMPROBE_WEBGPU_FUSED !== "off" && tf.getKernel(kernel, tf.getBackend()) != null;
}

const f32 = (t: tf.Tensor) => t.dtype === "float32";

/** RMSNorm / LayerNorm of x over its last axis, × (weight + weightOffset), + bias; null where not fused. */
export function fusedNorm(x: tf.Tensor, norm: NormSpec): tf.Tensor | null {
  const d = x.shape[x.rank - 1];
  if (!available(NORM_KERNEL) || x.rank < 1 || x.size === 0 || d > MAX_ROW || !f32(x)) return null;
  if ((norm.weight && (norm.weight.size !== d || !f32(norm.weight))) || (norm.bias && (norm.bias.size !== d || !f32(norm.bias)))) return null;
  const inputs: tf.NamedTensorMap = { x };
  if (norm.weight) inputs.w = norm.weight;
  if (norm.bias) inputs.b = norm.bias;
  return tf.engine().runKernel(NORM_KERNEL, inputs, { kind: norm.kind, eps: norm.eps, offset: norm.weightOffset } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** act(x), or act(x) · up for a gated MLP, in one pass; null where not fused (e.g. exact "gelu", which needs erf). */
export function fusedActivation(x: tf.Tensor, act: string, up: tf.Tensor | null = null): tf.Tensor | null {
  if (!available(ACTIVATION_KERNEL) || !["silu", "gelu_tanh", "gelu_quick", "relu"].includes(act) || x.size === 0 || !f32(x)) return null;
  if (up && (!f32(up) || !tf.util.arraysEqual(up.shape, x.shape))) return null;
  return tf.engine().runKernel(ACTIVATION_KERNEL, up ? { x, up } : { x }, { act } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * softmax(softcap(scores · scale) + mask) over the last axis: scores [batch, heads, queries, keys], mask
 * [batch, 1, queries, keys]; softcap null for none. Null where not fused.
 */
export function fusedScoresSoftmax(scores: tf.Tensor4D, mask: tf.Tensor4D, scale: number, softcap: number | null): tf.Tensor4D | null {
  if (!available(SCORES_SOFTMAX_KERNEL) || scores.rank !== 4 || mask.rank !== 4 || scores.size === 0 || !f32(scores) || !f32(mask)) return null;
  const [b, , q, k] = scores.shape;
  if (k > MAX_ROW || !tf.util.arraysEqual(mask.shape, [b, 1, q, k])) return null;
  return tf.engine().runKernel(SCORES_SOFTMAX_KERNEL, { scores, mask }, { scale, softcap: softcap ?? 0 } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * x [rows, d] · W [d, n] + b as one dispatch (tf.fused.matMul, whose bias the tiled kernel adds as it stores C);
 * null off webgpu or without a bias, where matMul then add is as good.
 */
export function fusedLinear(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor2D | null {
  if (!b || process.env.LMPROBE_WEBGPU_FUSED === "off" || tf.getBackend() !== "webgpu" || !f32(x) || !f32(W) || !f32(b)) return null;
  return tf.fused.matMul({ a: x, b: W, bias: b }) as tf.Tensor2D;
}

/**
 * "half"-style rotary embedding of the first `rot` features of each head of x [batch, pos, heads, dHead], with
 * tables cos, sin [batch, pos, 1, rot] as model/components/rotary.ts builds them; null where not fused.
 */
export function fusedRotaryHalf(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D, rot: number): tf.Tensor4D | null {
  if (!available(ROTARY_KERNEL) || x.rank !== 4 || x.size === 0 || !f32(x) || !f32(cos) || !f32(sin)) return null;
  const [b, t, , d] = x.shape;
  const table = [b, t, 1, rot];
  if (rot % 2 !== 0 || rot > d || !tf.util.arraysEqual(cos.shape, table) || !tf.util.arraysEqual(sin.shape, table)) return null;
  return tf.engine().runKernel(ROTARY_KERNEL, { x, cos, sin }, { rot } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

type Attrs = Record<string, unknown>;

/** Registers the fused kernels for the webgpu backend (idempotent). */
export function registerFusedKernels(): void {
  const register = (kernelName: string, run: (backend: WebgpuBackendApi, inputs: Record<string, tf.TensorInfo>, attrs: Attrs) => tf.TensorInfo) => {
    if (tf.getKernel(kernelName, "webgpu")) return;
    tf.registerKernel({
      kernelName,
      backendName: "webgpu",
      kernelFunc: ({ inputs, backend, attrs }) => run(backend as unknown as WebgpuBackendApi, inputs as Record<string, tf.TensorInfo>, attrs as Attrs),
    });
  };
  register(NORM_KERNEL, (backend, { x, w, b }, attrs) => {
    const program = new NormProgram(x.shape, attrs.kind as NormKind, w != null, b != null);
    return backend.runWebGPUProgram(program, [x, ...(w ? [w] : []), ...(b ? [b] : [])], "float32", [
      { type: "int32", data: [program.rows] },
      { type: "int32", data: [program.width] },
      { type: "float32", data: [attrs.eps as number] },
      { type: "float32", data: [attrs.offset as number] },
    ]);
  });
  register(ACTIVATION_KERNEL, (backend, { x, up }, attrs) => {
    const program = new ActivationProgram(x.shape, attrs.act as FusedActivation, up != null);
    return backend.runWebGPUProgram(program, up ? [x, up] : [x], "float32");
  });
  register(ROTARY_KERNEL, (backend, { x, cos, sin }, attrs) =>
    backend.runWebGPUProgram(new RotaryHalfProgram(x.shape), [x, cos, sin], "float32", [
      { type: "int32", data: [x.shape[2]] },
      { type: "int32", data: [x.shape[3]] },
      { type: "int32", data: [attrs.rot as number] },
    ]),
  );
  register(SCORES_SOFTMAX_KERNEL, (backend, { scores, mask }, attrs) => {
    const softcap = attrs.softcap as number;
    const program = new ScoresSoftmaxProgram(scores.shape, softcap > 0);
    return backend.runWebGPUProgram(program, [scores, mask], "float32", [
      { type: "int32", data: [program.rows] },
      { type: "int32", data: [program.width] },
      { type: "int32", data: [scores.shape[1]] },
      { type: "int32", data: [scores.shape[2]] },
      { type: "float32", data: [attrs.scale as number] },
      { type: "float32", data: [softcap > 0 ? softcap : 1] },
    ]);
  });
}
