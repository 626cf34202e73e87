// What the active backend can do or prefers, asked by name. The engine (model/, tensor/, io/) never compares
// backend names: it asks capability("…") and takes the path the answer picks, so a new backend (the native CPU
// path, say) declares its traits here once instead of adding branches across the engine. Fused kernels follow
// the same rule from the other side: each fused function returns null where the active backend has no kernel
// (kernels/fused.ts), and the caller composes tfjs ops.
import * as tf from "@tensorflow/tfjs-core";
import { LOGIT_STATS_KERNEL } from "./kernels/register";
import { LINEAR_RESIDUAL_KERNEL } from "./kernels/fused";
import { SEGMENTED_MATMUL_KERNEL } from "./kernels/segmented";
import { ArgumentError } from "../errors";

/** The traits a backend declares. Every one defaults to false for a backend not listed. */
export interface BackendTraits {
  /**
   * Products run fast only untransposed and unbatched (tfjs-wasm: XNNPACK takes neither a transposed operand nor
   * a batch of matrices, and falls back to a loop ~10× slower); model/components/linear.ts rearranges for it.
   */
  untransposedMatMul: boolean;
  /** Tensors copy their values when made (wasm's heap), so one scratch buffer may serve every upload. */
  copiesOnUpload: boolean;
  /** Reading a value back synchronously is impossible or stalls a device queue (GPU backends in Node). */
  asyncReadbackOnly: boolean;
  /** Host-side loops should be avoided: masks and tables are built by device ops instead (GPU backends). */
  buildsOnDevice: boolean;
  /**
   * The arithmetic runs on a GPU (webgpu, webgl): work sized for a laptop's cores (the report's integrated
   * gradients, cli/attribution-section.ts) may be a hundred times larger. tensorflow counts as a host backend:
   * tfjs-node and tfjs-node-gpu register under the same name.
   */
  computesOnGpu: boolean;
  /**
   * Attention may read keys and values where the projections left them, without a KV cache (webgpu's kernels;
   * cpu-native's attention call, which makes them head-major itself).
   */
  keysInPlace: boolean;
  /**
   * Memory, not dispatch count, bounds large intermediates: attention scores and MLP activations are streamed in
   * blocks of positions on the host backends; a GPU backend runs them whole (each block would repeat dispatches).
   */
  streamsLargeIntermediates: boolean;
  /** Mixture-of-experts layers run every expert on every token (one batched product each), not gathered rows. */
  denseExperts: boolean;
  /**
   * tf.gather with batchDims is right and reads only the rows it picks (cpu-native's own kernel). Elsewhere callers
   * gather by flat index from a reshaped tensor: tfjs-wasm's batched gather gives wrong values.
   */
  batchedGather: boolean;
}

const HOST: BackendTraits = {
  untransposedMatMul: false,
  copiesOnUpload: false,
  asyncReadbackOnly: false,
  buildsOnDevice: false,
  computesOnGpu: false,
  keysInPlace: false,
  streamsLargeIntermediates: true,
  denseExperts: false,
  batchedGather: false,
};

const TRAITS: Record<string, BackendTraits> = {
  cpu: HOST,
  // Matmuls, elementwise ops and reductions on onnxruntime's CPU provider (backend/native/): transposes are read
  // in place by MLAS, so products are taken as written.
  "cpu-native": { ...HOST, batchedGather: true, keysInPlace: true },
  wasm: { ...HOST, untransposedMatMul: true, copiesOnUpload: true },
  webgpu: { ...HOST, asyncReadbackOnly: true, buildsOnDevice: true, computesOnGpu: true, keysInPlace: true, streamsLargeIntermediates: false, denseExperts: true },
  tensorflow: { ...HOST, denseExperts: true },
  webgl: { ...HOST, asyncReadbackOnly: true, computesOnGpu: true, denseExperts: true },
};

/** Capabilities that are kernels registered for the active backend (and not switched off). */
const KERNEL_CAPABILITIES = {
  /** One-pass log Σ exp, entropy and top-k per row of logits (backend/kernels/logit-stats.ts). */
  logitStats: () => tf.getKernel(LOGIT_STATS_KERNEL, tf.getBackend()) != null,
  /** residual + x·W + b in one kernel, so a block may skip its separate residual adds (forward.ts). */
  fusedLinearResidual: () => process.env.LMPROBE_WEBGPU_FUSED !== "off" && tf.getKernel(LINEAR_RESIDUAL_KERNEL, tf.getBackend()) != null,
  /**
   * q, k and v as one segmented product per layer may be asked for (model/components/attention.ts decides by rows:
   * jointQkvRows; kernels/segmented.ts). LMPROBE_WEBGPU_JOINT_QKV=off never takes it.
   */
  jointQkvProduct: () => jointQkvSetting() !== "off" && tf.getKernel(SEGMENTED_MATMUL_KERNEL, tf.getBackend()) != null,
  /**
   * A gated MLP's gate and up projections as one product (on the GPU's matrix units, or the tiled kernel with each
   * weight's own K-slices: each output is its own product's number, kernels/segmented.ts), its activation applied by
   * that call (activatedProjection). LMPROBE_WEBGPU_JOINT_GATE_UP=off leaves them apart.
   */
  jointGateUp: () => jointGateUpSetting() && process.env.LMPROBE_WEBGPU_FUSED !== "off" && tf.getKernel(SEGMENTED_MATMUL_KERNEL, tf.getBackend()) != null,
  /**
   * An MLP's activation applied by its input projection's kernel call (model/components/mlp.ts, kernels/segmented.ts):
   * by the split-K sum where the product splits (one dispatch fewer), else by one pass after it. Also what the joint
   * gate | up product (jointGateUp) goes through. LMPROBE_WEBGPU_ACTIVATION_EPILOGUE=off runs the activation apart.
   */
  activatedProjection: () => onOffSetting("LMPROBE_WEBGPU_ACTIVATION_EPILOGUE") && process.env.LMPROBE_WEBGPU_FUSED !== "off" && tf.getKernel(SEGMENTED_MATMUL_KERNEL, tf.getBackend()) != null,
} as const;

/**
 * LMPROBE_WEBGPU_JOINT_QKV: auto (unset: the one q|k|v product up to JOINT_QKV_MAX_ROWS rows), on (at any number of
 * rows) or off; anything else is an error naming it.
 */
export function jointQkvSetting(): "auto" | "on" | "off" {
  const value = process.env.LMPROBE_WEBGPU_JOINT_QKV;
  if (value === undefined || value === "" || value === "auto") return "auto";
  if (value === "on" || value === "off") return value;
  throw new ArgumentError("LMPROBE_WEBGPU_JOINT_QKV", `is "${value}": expected auto, on or off`, "unset it for lmprobe's default (auto)");
}

/**
 * Rows up to which LMPROBE_WEBGPU_JOINT_QKV's default takes the one q|k|v product: where the weights' products split
 * K (split-k.ts), so that one product and one sum replace six dispatches and the flash kernel reads q, k and v from
 * the product's rows, in passes bound by the host's encoding. Alternated with three products in one process on an
 * H100, medians of 4 rounds (`bash bench/gpu/alternate.sh LMPROBE_WEBGPU_JOINT_QKV=off,on`, then `off,auto`;
 * bench/results/gpu-h100/joint-qkv-split/, joint-qkv-auto/): at T = 128 the forward 1.07× and 1.13× faster for
 * GPT-2-small, 1.04× and 1.51× for Qwen2.5-0.5B (probes 1.03× and 1.08×, 1.03× and 1.17×); at T = 1024, where
 * nothing splits, 0.99× and 0.98× with it on. That host's rounds spread about as widely as those gains: under
 * `auto`, T = 1024 runs the same code on both sides, and measured 0.95× and 1.02×.
 */
export const JOINT_QKV_MAX_ROWS = 256;

/** Whether LMPROBE_WEBGPU_JOINT_QKV takes the one q|k|v product for a pass of `rows` rows (batch × positions). */
export function jointQkvRows(rows: number): boolean {
  const setting = jointQkvSetting();
  return setting === "on" || (setting === "auto" && rows <= JOINT_QKV_MAX_ROWS);
}

/** An on (or unset) / off setting; anything else is an error naming it. */
function onOffSetting(name: string): boolean {
  const value = process.env[name];
  if (value === undefined || value === "" || value === "on") return true;
  if (value === "off") return false;
  throw new ArgumentError(name, `is "${value}": expected on or off`, "unset it for lmprobe's default (on)");
}

/** LMPROBE_WEBGPU_JOINT_GATE_UP: on (or unset) or off; anything else is an error naming it. */
function jointGateUpSetting(): boolean {
  return onOffSetting("LMPROBE_WEBGPU_JOINT_GATE_UP");
}

export type Capability = keyof BackendTraits | keyof typeof KERNEL_CAPABILITIES;

/** The traits of a backend by name (default: the active one); an unknown backend gets the host defaults. */
export function backendTraits(name: string = tf.getBackend()): BackendTraits {
  return TRAITS[name] ?? HOST;
}

/** Whether the active tfjs backend has `name`. */
export function capability(name: Capability): boolean {
  if (name in KERNEL_CAPABILITIES) return KERNEL_CAPABILITIES[name as keyof typeof KERNEL_CAPABILITIES]();
  return backendTraits()[name as keyof BackendTraits];
}

// The fused kernels, reached by the engine through this module only: each returns null where the active backend
// has no such kernel, and the caller composes tfjs ops.
export {
  countAbove,
  fusedAttention,
  fusedAttentionInRows,
  flashTakesRows,
  type RowsPlacement,
  fusedAttentionMask,
  fusedMlp,
  mlpRunsInOneCall,
  fusedBlock,
  fusedLensRows,
  type BlockSpec,
  fusedNorm,
  fusedActivation,
  fusedActivationJoint,
  fusesActivation,
  fusedScoresSoftmax,
  fusedLinear,
  fusedLinearResidual,
  fusedLinears,
  fusedRotaryHalf,
  fusedRotaryHalfFromQkv,
  headsScores,
  headsContext,
  qkvScores,
  qkvScoresFit,
  qkvContext,
  type QkvLayout,
  logitStats,
  unpackLogitStats,
  MAX_TOP_K,
  type NormSpec,
  type MlpSpec,
  type FusedActivation,
  type LogitStats,
} from "./kernels";
