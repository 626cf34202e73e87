// The fused row kernels as functions: each returns null where the active backend has no such kernel (anything
// but webgpu) or the shapes do not suit it, and the caller then composes the tfjs ops as before. Results are
// plain tensors, tracked by the engine like any op's (tf.tidy disposes them).
import * as tf from "@tensorflow/tfjs-core";
import { ActivationProgram, AttentionMaskProgram, CountAboveProgram, MAX_ROW, NormProgram, RotaryHalfProgram, ScoresSoftmaxProgram, type FusedActivation, type NormKind } from "./row-programs";
import type { WebgpuBackendApi } from "./program";
import { planMatMul, runMatMulPlan, runStridedMatMul, stridedMatMulFits, type StridedMatMul } from "./batch-matmul";
import { differentiableOpsRequired } from "../gradient-mode";
import { FlashAttentionBlockedProgram, flashKeyBlock, type FlashKeyBlock } from "./flash-attention-blocked";
import { FlashAttentionProgram, flashAttentionFits, flashAttentionUniforms, flashKeyGroupsFit, type FlashKeyGroups, type HeadsPlacement } from "./flash-attention";
import { ArgumentError } from "../../errors";

export const NORM_KERNEL = "LmprobeNorm";
export const ACTIVATION_KERNEL = "LmprobeActivation";
export const SCORES_SOFTMAX_KERNEL = "LmprobeScoresSoftmax";
export const ROTARY_KERNEL = "LmprobeRotaryHalf";
export const LINEAR_RESIDUAL_KERNEL = "LmprobeLinearResidual";
export const LINEARS_KERNEL = "LmprobeLinears";
export const HEADS_MATMUL_KERNEL = "LmprobeHeadsMatMul";
export const COUNT_ABOVE_KERNEL = "LmprobeCountAbove";
export const ATTENTION_KERNEL = "LmprobeAttention";
export const MLP_KERNEL = "LmprobeMlp";
export const ATTENTION_MASK_KERNEL = "LmprobeAttentionMask";
export const BLOCK_KERNEL = "LmprobeBlock";
export const LENS_ROWS_KERNEL = "LmprobeLensRows";
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
  // None of these kernels has a gradient: while one is taken (backend/gradient-mode.ts) the callers compose tfjs ops.
  if (differentiableOpsRequired()) return false;
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
/** Whether the fused activation kernels compute `act` (the exact, erf-based GELU stays composed). */
export function fusesActivation(act: string): boolean {
  return ["silu", "gelu_tanh", "gelu_quick", "relu"].includes(act);
}

export function fusedActivation(x: tf.Tensor, act: string, up: tf.Tensor | null = null): tf.Tensor | null {
  if (!available(ACTIVATION_KERNEL) || !fusesActivation(act) || x.size === 0 || !f32(x)) return null;
  if (up && (!f32(up) || !tf.util.arraysEqual(up.shape, x.shape))) return null;
  return tf.engine().runKernel(ACTIVATION_KERNEL, up ? { x, up } : { x }, { act } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/**
 * act(gate) · up for gate | up side by side in one product's rows, gateUp [..., 2F] → [..., F]: the numbers of
 * fusedActivation(gate, act, up). Null where not fused.
 */
export function fusedActivationJoint(gateUp: tf.Tensor, act: string): tf.Tensor | null {
  if (!available(ACTIVATION_KERNEL) || !fusesActivation(act) || gateUp.size === 0 || !f32(gateUp)) return null;
  if (gateUp.shape[gateUp.rank - 1] % 2 !== 0) return null;
  return tf.engine().runKernel(ACTIVATION_KERNEL, { xu: gateUp }, { act } as unknown as tf.NamedAttrMap) as tf.Tensor;
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
 * The additive attention mask [batch, 1, queries, keys] (model/components/masks.ts's rule) in one dispatch, from
 * keyValid int32 [batch, keys] (1 for a real key); window null for none. Null where the backend has no such kernel.
 */
export function fusedAttentionMask(keyValid: tf.Tensor2D, past: number, queries: number, window: number | null): tf.Tensor4D | null {
  // Taken while a gradient is too: the mask is a constant of the prompt, never on a path from the weights or the
  // activations to the loss, so no gradient is asked of it.
  const registered = process.env.LMPROBE_WEBGPU_FUSED !== "off" && tf.getKernel(ATTENTION_MASK_KERNEL, tf.getBackend()) != null;
  if (!registered || keyValid.rank !== 2 || keyValid.dtype !== "int32" || keyValid.size === 0 || queries < 1) return null;
  if (window !== null && window < 1) return null;
  return tf.engine().runKernel(ATTENTION_MASK_KERNEL, { keyValid }, { past, queries, window: window ?? 0 } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** Backends whose tf.fused.matMul adds the bias inside the product's kernel (one dispatch or native call). */
const BIAS_EPILOGUE = new Set(["webgpu", "cpu-native"]);

/**
 * x [rows, d] · W [d, n] + b as one dispatch (tf.fused.matMul: webgpu's tiled kernel adds the bias as it stores C,
 * cpu-native's onnxruntime graph adds it after the product in the same call); null elsewhere or without a bias,
 * where matMul then add is as good.
 */
export function fusedLinear(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D | null): tf.Tensor2D | null {
  if (!b || differentiableOpsRequired() || process.env.LMPROBE_WEBGPU_FUSED === "off" || !BIAS_EPILOGUE.has(tf.getBackend()) || !f32(x) || !f32(W) || !f32(b)) return null;
  return tf.fused.matMul({ a: x, b: W, bias: b }) as tf.Tensor2D;
}

/**
 * x [rows, d] · W_i [d, n_i] (+ b_i) for several weights, as one kernel with one output each (cpu-native: one
 * onnxruntime call instead of one per product; attention's q, k and v projections). Each output is the product its
 * weight alone would give, bit for bit. Null where the backend has no such kernel or does not take the shapes: the
 * caller then runs the products apart.
 */
export function fusedLinears(x: tf.Tensor2D, Ws: tf.Tensor2D[], bs: Array<tf.Tensor1D | null>): tf.Tensor2D[] | null {
  if (!available(LINEARS_KERNEL) || x.rank !== 2 || !f32(x) || x.size === 0 || Ws.length < 2 || bs.length !== Ws.length) return null;
  const d = x.shape[1];
  for (const [i, W] of Ws.entries()) {
    const b = bs[i];
    if (W.rank !== 2 || !f32(W) || W.shape[0] !== d || W.size === 0 || (b && (!f32(b) || b.rank !== 1 || b.size !== W.shape[1]))) return null;
  }
  const inputs: tf.NamedTensorMap = { x };
  Ws.forEach((W, i) => (inputs[`W${i}`] = W));
  bs.forEach((b, i) => b && (inputs[`b${i}`] = b));
  const out = tf.engine().runKernel(LINEARS_KERNEL, inputs, { count: Ws.length } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor2D[] | null;
  return out && out.length === Ws.length ? out : null;
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

/**
 * The "half" rotation of `heads` heads read from one q|k|v product qkv [1, pos, row], from column `start` on (q at 0,
 * k after q's heads): [1, pos, heads, dHead], the numbers of fusedRotaryHalf on those columns as their own tensor.
 * Null where not fused.
 */
export function fusedRotaryHalfFromQkv(qkv: tf.Tensor3D, start: number, heads: number, dHead: number, cos: tf.Tensor4D, sin: tf.Tensor4D, rot: number): tf.Tensor4D | null {
  if (!available(ROTARY_KERNEL) || qkv.rank !== 3 || qkv.shape[0] !== 1 || qkv.size === 0 || !f32(qkv) || !f32(cos) || !f32(sin)) return null;
  const table = [1, qkv.shape[1], 1, rot];
  if (rot % 2 !== 0 || rot > dHead || start + heads * dHead > qkv.shape[2] || !tf.util.arraysEqual(cos.shape, table) || !tf.util.arraysEqual(sin.shape, table)) return null;
  return tf.engine().runKernel(ROTARY_KERNEL, { x: qkv, cos, sin }, { rot, heads, dHead, start } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * Attention from the queries to the output of the heads, in one kernel: q [batch, pos, heads, dHead] as the
 * projection lays it out, k / v [batch, kvHeads, keys, dHead / dV] head-major (as the KV cache keeps them; `kvLayout`
 * "positions": [batch, keys, kvHeads, ·] as the projections lay them out, made head-major inside the kernel), mask
 * [batch, 1, pos, keys] (webgpu: or [batch, heads, pos, keys]) → z [batch, pos, heads, dV], computing
 * softmax(softcap(q·kᵀ · scale) + mask) · v with query head h reading key/value head ⌊h / (heads / kvHeads)⌋. For
 * when nothing observes the scores or the pattern.
 * `causal`: the caller's word that query row i sees no key after i + (keys − pos) and no row is wholly masked
 * (webgpu's kernel then leaves out the key tiles after a workgroup's last visible key; see headsScores).
 * Null where the backend has no such kernel (cpu-native and webgpu have; webgpu's is FlashAttentionProgram, taken
 * where flashByDefault says unless LMPROBE_WEBGPU_FLASH says otherwise) or the shapes do not fit.
 */
export function fusedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor4D, scale: number, softcap: number | null, kvLayout: "heads" | "positions" = "heads", causal = false): tf.Tensor4D | null {
  if (!available(ATTENTION_KERNEL) || ![q, k, v, mask].every((t) => t.rank === 4 && f32(t)) || q.size === 0 || k.size === 0) return null;
  const [b, pos, heads, dHead] = q.shape;
  const byPositions = kvLayout === "positions";
  const [kb, kvHeads, keys, kd] = byPositions ? [k.shape[0], k.shape[2], k.shape[1], k.shape[3]] : k.shape;
  if (kb !== b || kd !== dHead || kvHeads < 1 || heads % kvHeads !== 0) return null;
  const vLead = byPositions ? [v.shape[0], v.shape[2], v.shape[1]] : v.shape.slice(0, 3);
  if (!tf.util.arraysEqual(vLead, [b, kvHeads, keys])) return null;
  const webgpu = tf.getBackend() === "webgpu";
  // One mask for every head; on webgpu also one per head (ALiBi's).
  const maskHeads = webgpu && mask.shape[1] === heads ? heads : 1;
  if (!tf.util.arraysEqual(mask.shape, [b, maskHeads, pos, keys])) return null;
  // webgpu's kernel takes one width for keys and values (multi-head latent attention's narrower values take the
  // three-dispatch path).
  if (webgpu && v.shape[3] !== dHead) return null;
  const plan = webgpu ? flashPlan(b, heads, pos, keys, dHead) : { keyGroups: 1, keyBlock: 0 };
  if (plan == null) return null;
  const attrs = { scale, softcap: softcap ?? 0, kvPositions: byPositions ? 1 : 0, causal: causalSkip(causal), ...plan };
  return tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v, mask }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** Where q, k and v lie in rows of [batch, positions, ·] tensors, and their heads, for fusedAttentionInRows. */
export interface RowsPlacement {
  heads: number;
  kvHeads: number;
  dHead: number;
  q: HeadsPlacement;
  k: HeadsPlacement;
  v: HeadsPlacement;
}

/**
 * fusedAttention by positions on webgpu's flash kernel, with q, k and v read where they lie in the rows of
 * [batch, positions, ·] tensors (`placement`; the three may be one tensor, a q|k|v product, or rotated q and k
 * beside it) instead of tensors of their own: no copy out of the product. Null off webgpu, where the flash kernel
 * is not taken (its default, LMPROBE_WEBGPU_FLASH) or the shapes do not fit; the caller then runs the general path.
 */
export function fusedAttentionInRows(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, placement: RowsPlacement, mask: tf.Tensor4D, scale: number, softcap: number | null, causal = false): tf.Tensor4D | null {
  if (tf.getBackend() !== "webgpu" || !available(ATTENTION_KERNEL) || ![q, k, v, mask].every(f32) || q.rank < 3 || k.rank < 3 || v.rank < 3 || q.size === 0) return null;
  const [b, pos] = q.shape as [number, number];
  const keys = k.shape[1] as number;
  const { heads, kvHeads, dHead } = placement;
  if (k.shape[0] !== b || v.shape[0] !== b || v.shape[1] !== keys || kvHeads < 1 || heads % kvHeads !== 0) return null;
  const within = (t: tf.Tensor, p: HeadsPlacement, n: number) => p.start % 4 === 0 && p.row % 4 === 0 && p.start + n * dHead <= p.row && t.size === t.shape[0]! * t.shape[1]! * p.row;
  if (!within(q, placement.q, heads) || !within(k, placement.k, kvHeads) || !within(v, placement.v, kvHeads)) return null;
  const maskHeads = mask.shape[1] === heads ? heads : 1;
  if (!tf.util.arraysEqual(mask.shape, [b, maskHeads, pos, keys])) return null;
  const plan = flashPlan(b, heads, pos, keys, dHead);
  if (plan == null) return null;
  const attrs = { scale, softcap: softcap ?? 0, causal: causalSkip(causal), ...plan, placement };
  return tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v, mask }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * Whether fusedAttentionInRows would take this attention (webgpu, the flash kernel taken by its setting and default,
 * heads it takes): asked before a q|k|v product is made for it.
 */
export function flashTakesRows(batch: number, heads: number, pos: number, keys: number, dHead: number): boolean {
  return tf.getBackend() === "webgpu" && available(ATTENTION_KERNEL) && flashPlan(batch, heads, pos, keys, dHead) != null;
}

/**
 * Which flash kernel runs this attention on webgpu (FlashPlan), or null where none is taken: LMPROBE_WEBGPU_FLASH
 * off, heads it does not take, or (by default) beyond flashByDefault's lengths.
 */
function flashPlan(batch: number, heads: number, pos: number, keys: number, dHead: number): FlashPlan | null {
  const setting = flashSetting();
  if (setting === "off" || !flashAttentionFits(dHead, dHead)) return null;
  const limits = (tf.backend() as unknown as WebgpuBackendApi).device.limits;
  if (setting === "auto" && !flashByDefault(keys, 4 * batch * heads * pos * keys, limits.maxStorageBufferBindingSize)) return null;
  // LMPROBE_WEBGPU_FLASH=blocks: the blocked kernel wherever it takes the heads (for a benchmark's A/B).
  const keyBlock = setting === "blocks" ? flashKeyBlock(dHead, limits.maxComputeWorkgroupStorageSize) : null;
  if (keyBlock) return { keyGroups: 1, keyBlock };
  const keyGroups = typeof setting === "number" ? setting : defaultKeyGroups(dHead);
  return flashKeyGroupsFit(dHead, dHead, keyGroups) ? { keyGroups, keyBlock: 0 } : null;
}

/** Which flash kernel runs: FlashAttentionBlockedProgram with `keyBlock` keys per tile, or (0) the row kernel with keyGroups threads per row. */
interface FlashPlan {
  keyGroups: FlashKeyGroups;
  keyBlock: FlashKeyBlock | 0;
}

/**
 * Where webgpu's flash kernel is taken by default: up to 256 keys. Alternated with the three-dispatch path in one
 * process on an H100 (`bash bench/gpu/alternate.sh LMPROBE_WEBGPU_FLASH=off,1,4`, bench/results/gpu-h100/flash-attention/),
 * the forward took it 1.15× / 1.11× faster at 128 / 256 positions for GPT-2-small, 1.18× / 1.13× for Qwen2.5-0.5B and
 * 1.04× at 128 for the Llama-3.1-8B shape (one dispatch where there were three: these passes are bound by the host's
 * encoding), but 0.92× / 0.83× at 512 / 1024 for GPT-2-small and 0.94× / 0.86× for Qwen: there the GPU's time
 * rules, and the kernel's (each thread walking its row's keys, the score and value tiles read from workgroup memory
 * one key at a time) is about twice the tiled products' and the softmax's.
 */
export const FLASH_MAX_KEYS = 256;

/**
 * Whether LMPROBE_WEBGPU_FLASH's default takes the flash kernel: up to FLASH_MAX_KEYS keys (faster there), and at any
 * length where the [batch, heads, queries, keys] scores would not fit one storage binding of the device (the
 * three dispatches could not run at all: GPT-2-small's 12 heads at 8192 positions make 3.2 GB of scores).
 */
export function flashByDefault(keys: number, scoresBytes: number, bindingLimitBytes: number): boolean {
  return keys <= FLASH_MAX_KEYS || scoresBytes > bindingLimitBytes;
}

/**
 * LMPROBE_WEBGPU_FLASH: auto (unset: where flashByDefault says, defaultKeyGroups threads per query row), on (at
 * any length), off (attention as q·kᵀ, softmax and pattern · v, three dispatches), blocks (the blocked kernel,
 * flash-attention-blocked.ts, at any length where it takes the heads; the row kernel elsewhere), or 1, 2 or 4
 * threads per query row at any length (for a benchmark's A/B).
 */
function flashSetting(): "auto" | "on" | "off" | "blocks" | FlashKeyGroups {
  const value = process.env.LMPROBE_WEBGPU_FLASH;
  if (value === undefined || value === "" || value === "auto") return "auto";
  if (value === "on" || value === "off" || value === "blocks") return value;
  if (value === "1" || value === "2" || value === "4") return Number(value) as FlashKeyGroups;
  throw new ArgumentError("LMPROBE_WEBGPU_FLASH", `is "${value}": expected auto, on, off, blocks, 1, 2 or 4`, "unset it for lmprobe's default (auto)");
}

/**
 * Four threads per query row where the widths allow (see FlashAttentionProgram), else fewer: on an H100 four were
 * 1.09× / 1.04× faster than one at 1024 positions (GPT-2-small / Qwen2.5-0.5B forward) and as fast at 128.
 */
function defaultKeyGroups(dHead: number): FlashKeyGroups {
  return ([4, 2, 1] as const).find((g) => flashKeyGroupsFit(dHead, dHead, g)) ?? 1;
}

/** The weights of a dense MLP as fusedMlp takes them (model/canonical's DenseMlpWeights has them all). */
export interface MlpSpec {
  gated: boolean;
  act: string;
  W_gate?: tf.Tensor2D | null;
  b_gate?: tf.Tensor1D | null;
  W_in: tf.Tensor2D;
  b_in: tf.Tensor1D | null;
  W_out: tf.Tensor2D;
  b_out: tf.Tensor1D | null;
}

/**
 * Whether fusedMlp runs a dense MLP with activation `act` as one kernel call on this backend (cpu-native: one
 * onnxruntime call), so that its hidden activations never become tensors (float32 weights of the expected shapes).
 */
export function mlpRunsInOneCall(act: string): boolean {
  return available(MLP_KERNEL) && ["silu", "gelu_tanh", "gelu_quick", "relu"].includes(act);
}

/**
 * A dense MLP of x [rows, d_model] in one kernel: act(x·W_gate + b_gate) · (x·W_in + b_in) when gated, else
 * act(x·W_in + b_in); then ·W_out + b_out → [rows, d_model], plus `residual` [rows, d_model] when given (added last,
 * as the separate residual add would). For when nothing observes the hidden activations.
 * Null where the backend has no such kernel (cpu-native has), for activations it does not fuse, or other shapes.
 */
export function fusedMlp(x: tf.Tensor2D, w: MlpSpec, residual: tf.Tensor2D | null = null): tf.Tensor2D | null {
  if (!mlpRunsInOneCall(w.act) || x.rank !== 2 || x.size === 0) return null;
  const gate = w.gated ? w.W_gate : null;
  if (w.gated && !gate) return null;
  const inputs: tf.NamedTensorMap = { x, W_in: w.W_in, W_out: w.W_out };
  if (gate) inputs.W_gate = gate;
  if (gate && w.b_gate) inputs.b_gate = w.b_gate;
  if (w.b_in) inputs.b_in = w.b_in;
  if (w.b_out) inputs.b_out = w.b_out;
  if (residual) inputs.residual = residual;
  if (!Object.values(inputs).every(f32)) return null;
  const [d, hidden] = w.W_in.shape;
  if (x.shape[1] !== d || (gate && !tf.util.arraysEqual(gate.shape, [d, hidden])) || w.W_out.shape[0] !== hidden) return null;
  if (residual && !tf.util.arraysEqual(residual.shape, [x.shape[0], w.W_out.shape[1]])) return null;
  if ((inputs.b_gate && inputs.b_gate.size !== hidden) || (w.b_in && w.b_in.size !== hidden) || (w.b_out && w.b_out.size !== w.W_out.shape[1])) return null;
  return tf.engine().runKernel(MLP_KERNEL, inputs, { act: w.act } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** A sequential block's weights and settings as fusedBlock takes them (model/whole-block.ts assembles them). */
export interface BlockSpec {
  ln1: NormSpec;
  ln2: NormSpec;
  heads: number;
  kvHeads: number;
  dHead: number;
  W_Q: tf.Tensor2D;
  b_Q: tf.Tensor1D | null;
  W_K: tf.Tensor2D;
  b_K: tf.Tensor1D | null;
  W_V: tf.Tensor2D;
  b_V: tf.Tensor1D | null;
  W_O: tf.Tensor2D;
  b_O: tf.Tensor1D | null;
  scale: number;
  softcap: number | null;
  mlp: MlpSpec;
}

/**
 * A whole sequential block of x [batch, pos, d_model] in one kernel: x + attention(ln1(x)) = mid, then mid +
 * MLP(ln2(mid)), with causal mask [batch, 1, pos, pos] and, for "half" rotary, tables cos / sin [batch, pos, 1,
 * rot]. For when nothing observes anything inside the block. Null where the backend has no such kernel (cpu-native
 * has) or the shapes or settings do not fit; the caller then runs the block op by op.
 */
export function fusedBlock(x: tf.Tensor3D, w: BlockSpec, mask: tf.Tensor4D, rotary: { cos: tf.Tensor4D; sin: tf.Tensor4D; rot: number } | null): tf.Tensor3D | null {
  if (!available(BLOCK_KERNEL) || x.rank !== 3 || x.size === 0 || !["silu", "gelu_tanh", "gelu_quick", "relu"].includes(w.mlp.act)) return null;
  const [batch, pos, d] = x.shape;
  const { heads, kvHeads, dHead } = w;
  if (kvHeads < 1 || heads % kvHeads !== 0 || w.W_Q.shape[1] !== heads * dHead || w.W_K.shape[1] !== kvHeads * dHead) return null;
  if (w.W_V.shape[1] % kvHeads !== 0 || w.W_O.shape[0] !== heads * (w.W_V.shape[1] / kvHeads) || w.W_O.shape[1] !== d) return null;
  if (![w.W_Q, w.W_K, w.W_V].every((W) => W.rank === 2 && W.shape[0] === d) || !tf.util.arraysEqual(mask.shape, [batch, 1, pos, pos])) return null;
  const gate = w.mlp.gated ? w.mlp.W_gate : null;
  if (w.mlp.gated && !gate) return null;
  const [dIn, hidden] = w.mlp.W_in.shape;
  if (dIn !== d || w.mlp.W_out.shape[0] !== hidden || w.mlp.W_out.shape[1] !== d || (gate && !tf.util.arraysEqual(gate.shape, [d, hidden]))) return null;
  const vector = (b: tf.Tensor1D | null | undefined, size: number) => !b || (b.rank === 1 && b.size === size);
  if (!vector(w.b_Q, w.W_Q.shape[1]) || !vector(w.b_K, w.W_K.shape[1]) || !vector(w.b_V, w.W_V.shape[1]) || !vector(w.b_O, d)) return null;
  if (!vector(gate ? w.mlp.b_gate : null, hidden) || !vector(w.mlp.b_in, hidden) || !vector(w.mlp.b_out, d)) return null;
  for (const norm of [w.ln1, w.ln2]) if (!vector(norm.weight, d) || !vector(norm.bias, d)) return null;
  if (rotary && (rotary.rot % 2 !== 0 || rotary.rot < 2 || rotary.rot > dHead || ![rotary.cos, rotary.sin].every((t) => tf.util.arraysEqual(t.shape, [batch, pos, 1, rotary.rot])))) return null;
  const inputs: tf.NamedTensorMap = { x, W_Q: w.W_Q, W_K: w.W_K, W_V: w.W_V, W_O: w.W_O, W_in: w.mlp.W_in, W_out: w.mlp.W_out, mask };
  const optional: Record<string, tf.Tensor | null | undefined> = {
    ln1_w: w.ln1.weight, ln1_b: w.ln1.bias, ln2_w: w.ln2.weight, ln2_b: w.ln2.bias, b_Q: w.b_Q, b_K: w.b_K, b_V: w.b_V, b_O: w.b_O,
    W_gate: gate, b_gate: gate ? w.mlp.b_gate : null, b_in: w.mlp.b_in, b_out: w.mlp.b_out, cos: rotary?.cos, sin: rotary?.sin,
  };
  for (const [name, t] of Object.entries(optional)) if (t) inputs[name] = t;
  if (!Object.values(inputs).every(f32)) return null;
  const attrs = {
    heads, kvHeads, dHead, scale: w.scale, softcap: w.softcap ?? 0, rot: rotary?.rot ?? 0, act: w.mlp.act,
    ln1Kind: w.ln1.kind, ln1Eps: w.ln1.eps, ln1Offset: w.ln1.weightOffset, ln2Kind: w.ln2.kind, ln2Eps: w.ln2.eps, ln2Offset: w.ln2.weightOffset,
  };
  return tf.engine().runKernel(BLOCK_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor3D;
}

/**
 * The lens of rows x [m, d] through an unembedding W ([vocab, d] when `vocabRows`, else [d, vocab]) in one kernel:
 * per row [log Σ exp, entropy, top-k logits, top-k ids as floats] (the layout of the statistics kernels), the
 * targets' logits [m, t] (ids int32 [m, t]) and how many logits exceed each [m, t] (int32). Null where the backend
 * has no such kernel (cpu-native has), the logits would exceed its bound, or a row's statistics are not finite.
 */
export function fusedLensRows(x: tf.Tensor2D, W: tf.Tensor2D, vocabRows: boolean, k: number, ids: tf.Tensor2D): { stats: tf.Tensor2D; targets: tf.Tensor2D; counts: tf.Tensor2D } | null {
  if (!available(LENS_ROWS_KERNEL) || x.rank !== 2 || W.rank !== 2 || ids.rank !== 2 || !f32(x) || !f32(W) || ids.dtype !== "int32" || x.size === 0) return null;
  const [d, vocab] = vocabRows ? [W.shape[1], W.shape[0]] : W.shape;
  if (x.shape[1] !== d || ids.shape[0] !== x.shape[0] || !Number.isInteger(k) || k < 1 || k > vocab) return null;
  const out = tf.engine().runKernel(LENS_ROWS_KERNEL, { x, W, ids }, { k, vocabRows: +vocabRows } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor2D[];
  return out.length === 3 ? { stats: out[0], targets: out[1], counts: out[2] } : null;
}

/**
 * Which products each backend's LINEAR_RESIDUAL_KERNEL takes, beyond [M, K]·[K, N]: webgpu's only those its tiled
 * matmul runs (not small or unaligned shapes, nor with tfjs's own matmul chosen); cpu-native's graph takes any.
 */
const LINEAR_RESIDUAL_TAKES: Record<string, (x: number[], W: number[]) => boolean> = {
  webgpu: (x, W) => process.env.LMPROBE_WEBGPU_MATMUL !== "tfjs" && planMatMul(x, W, false, false)?.batch === 1,
};

/**
 * residual + (x [rows, d] · W [d, n] + b) as one kernel: the bias, then the residual [rows, n], added as the product
 * is stored (webgpu: the tiled matmul's epilogue; cpu-native: one onnxruntime call), so the numbers are those of
 * the separate adds. Null where the backend has no such kernel or does not take the shapes: the caller composes
 * the ops.
 */
export function fusedLinearResidual(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D | null, residual: tf.Tensor2D): tf.Tensor2D | null {
  if (!available(LINEAR_RESIDUAL_KERNEL)) return null;
  if (!f32(x) || !f32(W) || !f32(residual) || (b && (!f32(b) || b.rank !== 1))) return null;
  if (x.rank !== 2 || W.rank !== 2 || x.shape[1] !== W.shape[0] || x.size === 0 || W.size === 0) return null;
  const [M, N] = [x.shape[0], W.shape[1]];
  if ((b && b.size !== N) || !tf.util.arraysEqual(residual.shape, [M, N])) return null;
  const takes = LINEAR_RESIDUAL_TAKES[tf.getBackend()];
  if (takes && !takes(x.shape, W.shape)) return null;
  const inputs: tf.NamedTensorMap = b ? { x, W, b, residual } : { x, W, residual };
  return tf.engine().runKernel(LINEAR_RESIDUAL_KERNEL, inputs) as tf.Tensor2D;
}

/**
 * q [1, pos, heads, dHead] · k [1, keys, kvHeads, dHead]ᵀ per head → [1, heads, pos, keys], read in place. With
 * grouped key/value heads (heads = group · kvHeads) query head h reads key head ⌊h / group⌋, as repeat_kv does.
 */
function scoresProduct(q: number[], k: number[]): StridedMatMul {
  const [, pos, heads, dHead] = q;
  const [, keys, kvHeads] = k;
  return {
    batch: heads, M: pos, N: keys, K: dHead, layout: "nt",
    a: [dHead, heads * dHead], b: [dHead, kvHeads * dHead], c: [pos * keys, keys], bGroup: heads / kvHeads, outShape: [1, heads, pos, keys],
  };
}

/** pattern [1, heads, pos, keys] · v [1, keys, kvHeads, dHead] per head → z [1, pos, heads, dHead], written in place. */
function contextProduct(pattern: number[], v: number[]): StridedMatMul {
  const [, heads, pos, keys] = pattern;
  const [, , kvHeads, dHead] = v;
  const row = heads * dHead;
  return {
    batch: heads, M: pos, N: dHead, K: keys, layout: "nn",
    a: [pos * keys, keys], b: [dHead, kvHeads * dHead], c: [dHead, row], bGroup: heads / kvHeads, outShape: [1, pos, heads, dHead],
  };
}

/** Heads of a q|k|v product's rows [pos, (heads + 2·kvHeads)·dHead]: q's columns, then k's, then v's. */
export interface QkvLayout {
  heads: number;
  kvHeads: number;
  dHead: number;
}

const qkvRow = (l: QkvLayout) => (l.heads + 2 * l.kvHeads) * l.dHead;

/** Scores of every head read from a q|k|v product [1, pos, row]: q·kᵀ → [1, heads, pos, pos]. */
function qkvScoresProduct(pos: number, l: QkvLayout): StridedMatMul {
  const row = qkvRow(l);
  return {
    batch: l.heads, M: pos, N: pos, K: l.dHead, layout: "nt", a: [l.dHead, row], b: [l.dHead, row], c: [pos * pos, pos],
    bGroup: l.heads / l.kvHeads, aStart: 0, bStart: l.heads * l.dHead, outShape: [1, l.heads, pos, pos],
  };
}

/** pattern [1, heads, pos, pos] · v read from a q|k|v product → z [1, pos, heads, dHead]. */
function qkvContextProduct(pos: number, l: QkvLayout): StridedMatMul {
  return {
    batch: l.heads, M: pos, N: l.dHead, K: pos, layout: "nn", a: [pos * pos, pos], b: [l.dHead, qkvRow(l)], c: [l.dHead, l.heads * l.dHead],
    bGroup: l.heads / l.kvHeads, bStart: (l.heads + l.kvHeads) * l.dHead, outShape: [1, pos, l.heads, l.dHead],
  };
}

const qkvUsable = (qkv: tf.Tensor, l: QkvLayout) =>
  headsMatMulUsable() && qkv.rank === 3 && f32(qkv) && qkv.shape[0] === 1 && qkv.shape[2] === qkvRow(l) && evenGroups(l.heads, l.kvHeads);

/** Whether qkvScores takes a q|k|v product of `pos` rows with these heads (checked before the product is made). */
export function qkvScoresFit(pos: number, l: QkvLayout): boolean {
  return headsMatMulUsable() && evenGroups(l.heads, l.kvHeads) && stridedMatMulFits(qkvScoresProduct(pos, l));
}

/**
 * Attention scores q·kᵀ of every head, read from one q|k|v product qkv [1, pos, (heads + 2·kvHeads)·dHead] where
 * they lie (no slices, no transposes): [1, heads, pos, pos]. Null where not fused.
 */
export function qkvScores(qkv: tf.Tensor3D, l: QkvLayout, causal = false): tf.Tensor4D | null {
  if (!qkvUsable(qkv, l) || !stridedMatMulFits(qkvScoresProduct(qkv.shape[1], l))) return null;
  return tf.engine().runKernel(HEADS_MATMUL_KERNEL, { a: qkv, b: qkv }, { product: "qkvScores", ...l, causal: causalSkip(causal) } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** z = pattern · v per head, v read from the q|k|v product: [1, pos, heads, dHead]; null where not fused. */
export function qkvContext(pattern: tf.Tensor4D, qkv: tf.Tensor3D, l: QkvLayout, causal = false): tf.Tensor4D | null {
  const pos = qkv.shape[1];
  if (!qkvUsable(qkv, l) || !tf.util.arraysEqual(pattern.shape, [1, l.heads, pos, pos]) || !f32(pattern)) return null;
  if (!stridedMatMulFits(qkvContextProduct(pos, l))) return null;
  return tf.engine().runKernel(HEADS_MATMUL_KERNEL, { a: pattern, b: qkv }, { product: "qkvContext", ...l, causal: causalSkip(causal) } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** Whether `heads` query heads share `kvHeads` key/value heads evenly (every group the same size). */
const evenGroups = (heads: number, kvHeads: number) => kvHeads > 0 && heads % kvHeads === 0;

const headsMatMulUsable = (...xs: tf.Tensor[]) => available(HEADS_MATMUL_KERNEL) && process.env.LMPROBE_WEBGPU_MATMUL !== "tfjs" && xs.every((x) => x.rank === 4 && f32(x) && x.shape[0] === 1);

/**
 * Attention scores q·kᵀ of every head, q [1, pos, heads, dHead] and k [1, keys, heads, dHead] read as the
 * projections left them (no transposes to head-major): [1, heads, pos, keys]; k may have fewer (grouped) heads.
 * Null where not fused (other backends, a batch above 1, sizes the tiled kernel does not take).
 */
export function headsScores(q: tf.Tensor4D, k: tf.Tensor4D, causal = false): tf.Tensor4D | null {
  if (!headsMatMulUsable(q, k) || !evenGroups(q.shape[2], k.shape[2]) || q.shape[3] !== k.shape[3] || !stridedMatMulFits(scoresProduct(q.shape, k.shape))) return null;
  return tf.engine().runKernel(HEADS_MATMUL_KERNEL, { a: q, b: k }, { product: "scores", causal: causalSkip(causal) } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/** z = pattern · v per head, pattern [1, heads, pos, keys], v [1, keys, kvHeads, dHead] → z [1, pos, heads, dHead]; null where not fused. */
export function headsContext(pattern: tf.Tensor4D, v: tf.Tensor4D, causal = false): tf.Tensor4D | null {
  if (!headsMatMulUsable(pattern, v) || !evenGroups(pattern.shape[1], v.shape[2]) || pattern.shape[3] !== v.shape[1] || !stridedMatMulFits(contextProduct(pattern.shape, v.shape))) return null;
  return tf.engine().runKernel(HEADS_MATMUL_KERNEL, { a: pattern, b: v }, { product: "context", causal: causalSkip(causal) } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

/**
 * `causal` (headsScores, headsContext): the caller's word that query row i of the mask sees no
 * key after i + past (past = keys − queries) and no row is wholly masked, and that nothing reads the scores or reads
 * or replaces the pattern where it is skipped. The products then skip the blocks and K-slices the mask leaves out
 * (MatMulTiledProgram's causal skip): the same bits, since the mask's minimum absorbs whatever the skipped scores
 * hold (0) and the pattern there is exactly 0.
 * LMPROBE_WEBGPU_CAUSAL_SKIP=off computes them all.
 */
function causalSkip(asked: boolean): boolean {
  const value = process.env.LMPROBE_WEBGPU_CAUSAL_SKIP;
  if (value !== undefined && value !== "" && value !== "on" && value !== "off") {
    throw new ArgumentError("LMPROBE_WEBGPU_CAUSAL_SKIP", `is "${value}": expected on or off`, "unset it for lmprobe's default (on)");
  }
  return asked && value !== "off";
}

/**
 * For each row of x [rows, n] and each of its thresholds [rows, t]: how many entries of the row are strictly
 * greater, as int32 [rows, t] (the lens's target ranks). One pass where the backend has the kernel (cpu-native,
 * webgpu); null elsewhere.
 */
export function countAbove(x: tf.Tensor2D, thresholds: tf.Tensor2D): tf.Tensor2D | null {
  if (tf.getKernel(COUNT_ABOVE_KERNEL, tf.getBackend()) == null || x.rank !== 2 || thresholds.rank !== 2 || !f32(x) || !f32(thresholds)) return null;
  if (x.shape[0] !== thresholds.shape[0] || x.size >= 2 ** 31) return null;
  return tf.engine().runKernel(COUNT_ABOVE_KERNEL, { x, thresholds }) as tf.Tensor2D;
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
  register(ATTENTION_MASK_KERNEL, (backend, { keyValid }, attrs) => {
    const [batch, keys] = keyValid.shape;
    const queries = attrs.queries as number;
    return backend.runWebGPUProgram(new AttentionMaskProgram(batch, queries, keys), [keyValid], "float32", [
      { type: "int32", data: [queries] },
      { type: "int32", data: [keys] },
      { type: "int32", data: [attrs.past as number] },
      { type: "int32", data: [attrs.window as number] },
    ]);
  });
  register(COUNT_ABOVE_KERNEL, (backend, { x, thresholds }) => {
    const [rows, width] = x.shape;
    const targets = thresholds.shape[1];
    return backend.runWebGPUProgram(new CountAboveProgram(rows, targets), [x, thresholds], "int32", [
      { type: "int32", data: [rows * targets] },
      { type: "int32", data: [targets] },
      { type: "int32", data: [width] },
    ]);
  });
  register(ACTIVATION_KERNEL, (backend, { x, up, xu }, attrs) => {
    if (xu) {
      // gate | up in one [rows, 2F] product: act(gate) · up, [rows, F].
      const width = xu.shape[xu.shape.length - 1] / 2;
      const program = new ActivationProgram([...xu.shape.slice(0, -1), width], attrs.act as FusedActivation, true, true);
      return backend.runWebGPUProgram(program, [xu], "float32", [{ type: "int32", data: [width] }]);
    }
    const program = new ActivationProgram(x.shape, attrs.act as FusedActivation, up != null);
    return backend.runWebGPUProgram(program, up ? [x, up] : [x], "float32");
  });
  register(ROTARY_KERNEL, (backend, { x, cos, sin }, attrs) => {
    // x [batch, pos, heads, dHead], or (attrs.heads set) one q|k|v product [1, pos, row] whose columns from
    // attrs.start hold the heads to rotate.
    const fromQkv = typeof attrs.heads === "number";
    const heads = fromQkv ? (attrs.heads as number) : x.shape[2];
    const dHead = fromQkv ? (attrs.dHead as number) : x.shape[3];
    const shape = fromQkv ? [1, x.shape[1], heads, dHead] : x.shape;
    const xRow = fromQkv ? x.shape[2] : heads * dHead;
    const start = fromQkv ? (attrs.start as number) : 0;
    return backend.runWebGPUProgram(new RotaryHalfProgram(shape), [x, cos, sin], "float32",
      [heads, dHead, attrs.rot as number, xRow, start].map((v) => ({ type: "int32" as const, data: [v] })));
  });
  register(LINEAR_RESIDUAL_KERNEL, (backend, { x, W, b, residual }) => {
    const plan = planMatMul(x.shape, W.shape, false, false);
    if (!plan) throw new Error(`${LINEAR_RESIDUAL_KERNEL}: no tiled plan for [${x.shape}]·[${W.shape}] (fusedLinearResidual checks this first)`);
    return runMatMulPlan(backend, x, W, plan, b ?? null, residual);
  });
  register(HEADS_MATMUL_KERNEL, (backend, { a, b }, attrs) => {
    const layout = attrs as unknown as QkvLayout;
    const products: Record<string, () => StridedMatMul> = {
      scores: () => scoresProduct(a.shape, b.shape),
      context: () => contextProduct(a.shape, b.shape),
      qkvScores: () => qkvScoresProduct(a.shape[1], layout),
      qkvContext: () => qkvContextProduct(b.shape[1], layout),
    };
    const p = products[attrs.product as string]();
    // attrs.causal: the caller's word that the mask is causal with no wholly masked row (headsScores/headsContext).
    // Keys past the queries' own: the scores' columns or the context's K, less the query rows.
    if (attrs.causal === true) {
      const scores = attrs.product === "scores" || attrs.product === "qkvScores";
      const keys = scores ? p.N : p.K;
      p.causal = { product: scores ? "scores" : "context", past: keys - p.M };
    }
    return runStridedMatMul(backend, a, b, p);
  });
  register(ATTENTION_KERNEL, (backend, { q, k, v, mask }, attrs) => {
    // attrs.placement (fusedAttentionInRows): q, k and v are parts of rows, e.g. one q|k|v product's; else tensors of
    // heads, k and v by positions (kvPositions) or by heads.
    const placed = attrs.placement as RowsPlacement | undefined;
    const [batch, queries] = q.shape;
    const heads = placed ? placed.heads : q.shape[2];
    const dHead = placed ? placed.dHead : q.shape[3];
    const byPositions = placed != null || attrs.kvPositions === 1;
    const [keys, kvHeads] = placed ? [k.shape[1], placed.kvHeads] : byPositions ? [k.shape[1], k.shape[2]] : [k.shape[2], k.shape[1]];
    if (!placed && v.shape[3] !== dHead) throw new Error(`${ATTENTION_KERNEL}: values ${v.shape[3]} wide against keys ${dHead} (fusedAttention checks this first)`);
    const softcap = attrs.softcap as number;
    const keyBlock = (attrs.keyBlock as FlashKeyBlock | 0 | undefined) ?? 0;
    const program = keyBlock
      ? new FlashAttentionBlockedProgram(batch, queries, heads, dHead, softcap > 0, attrs.causal === true, keyBlock)
      : new FlashAttentionProgram(batch, queries, heads, dHead, dHead, softcap > 0, attrs.causal === true, (attrs.keyGroups as FlashKeyGroups | undefined) ?? 1);
    const own = (heads: number): HeadsPlacement => ({ start: 0, row: heads * dHead });
    const placement = placed ?? (byPositions ? { q: own(heads), k: own(kvHeads), v: own(kvHeads) } : "heads");
    const ints = flashAttentionUniforms({ batch, queries, keys, heads, kvHeads, dHead, maskHeads: mask.shape[1] }, placement);
    return backend.runWebGPUProgram(program, [q, k, v, mask], "float32", [
      ...ints.map((x) => ({ type: "int32" as const, data: [x] })),
      { type: "float32", data: [attrs.scale as number] },
      { type: "float32", data: [softcap > 0 ? softcap : 1] },
    ]);
  });
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
