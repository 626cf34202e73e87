// The gradient cache against PyTorch autograd: a fixture's gradients.safetensors (scripts/fixtures/make_fixture.py,
// run_gradients) holds ∂(logit a − logit b)/∂x at the last position, for a, b the two most likely next tokens, at
// each decoder layer's input and at what its attention and MLP add to the residual stream, as torch's forward hooks
// saw them. Those are lmprobe's blocks.{l}.hook_resid_pre, hook_attn_out and hook_mlp_out:
// - GPT-2, Llama-style, Qwen2, Phi-3 (fused qkv / gate_up, split at load) and GPT-NeoX (parallel residual: the
//   attention and the MLP both read the block input, both outputs are added to it): the self_attn/attn/attention
//   and mlp modules' outputs, before the residual add, are hook_attn_out and hook_mlp_out.
// - Gemma 2/3 and OLMo 2 (post-norms): the sublayers' outputs pass post_attention_layernorm /
//   post_feedforward_layernorm before the add, and lmprobe's hook_attn_out / hook_mlp_out are after the post-norm
//   (as TransformerLens's). The current script hooks the post-norms' outputs there and says so in the file's
//   metadata (branch_point). A file written before that (no metadata) holds the gradient g at the sublayer's own
//   output, which no lmprobe hook sees; it is compared through the linear map that produces that output from a
//   point lmprobe does hook: attention's output is z·W_O + b_O, so ∂m/∂z = g·W_Oᵀ is compared with lmprobe's
//   gradient at attn.hook_z, and the MLP's is post·W_out + b_out, so g·W_outᵀ with mlp.hook_post (W_O and W_out
//   are square or wider here, so nothing of g is lost). The post-norm's Jacobian sits between those points and
//   hook_attn_out/hook_mlp_out, so a wrong gradient through it shows.
//
// Tolerance: both sides run the forward and backward pass in float32 (torch on CPU, eager attention). Each layer's
// gradient is compared relative to its own scale, max |Δ| ≤ 1e-4 · max |g_torch| over that layer's [pos, d_model]:
// float32 rounding through two or three layers of d_model = 64 leaves ~1e-6 of that scale (the float64 check in
// gradient-cache.test.ts: 8e-8 to 9e-7), so 1e-4 is a margin of about 100×, while a wrong gradient (a dropped path
// such as the parallel MLP branch or a norm's Jacobian, the gradient before instead of after a post-norm, another
// layer's gradient) is off by 1e-2 or more of the scale (the negative controls of torch-gradients.test.ts).
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../../src/load";
import { gradientCache } from "../../src/model/gradients";
import { logitDiffMetric } from "../../src/probe/gradient-metrics";
import { SafetensorsFile } from "../../src/io/safetensors";
import { float32Weight } from "../../src/backend/packed-weight";

export const GRADIENTS_FILE = "gradients.safetensors";
export const RELATIVE_TOLERANCE = 1e-4;
/** The hook points the file covers, by the file's tensor name. */
export const HOOKS = { grad_resid_pre: "resid_pre", grad_attn_out: "attn_out", grad_mlp_out: "mlp_out" } as const;
export type GradientTensor = keyof typeof HOOKS;

/** What make_fixture.py's run_gradients writes. */
export interface TorchGradients {
  ids: number[];
  tokens: [number, number];
  metric: number;
  /** [layers][pos · d_model] per tensor. */
  grads: Record<GradientTensor, Float32Array[]>;
  layers: number;
  positions: number;
  dModel: number;
  metadata: Record<string, string>;
}

/** Reads a fixture's gradients.safetensors; the ids default to its reference.safetensors' input_ids. */
export function readTorchGradients(dir: string): TorchGradients {
  const file = SafetensorsFile.open(path.join(dir, GRADIENTS_FILE));
  try {
    const ids = file.has("grad_input_ids") ? file.readIntegers("grad_input_ids") : referenceIds(dir);
    const tokens = file.readIntegers("grad_tokens");
    if (tokens.length !== 2) throw new Error(`${file.file}: grad_tokens has ${tokens.length} ids, not 2`);
    const shape = file.entry("grad_resid_pre").shape;
    if (shape.length !== 3 || shape[1] !== ids.length) throw new Error(`${file.file}: grad_resid_pre is [${shape}], not [layers, ${ids.length}, d_model]`);
    const [layers, positions, dModel] = shape;
    const grads = {} as Record<GradientTensor, Float32Array[]>;
    for (const name of Object.keys(HOOKS) as GradientTensor[]) {
      const s = file.entry(name).shape;
      if (!s.every((v, i) => v === shape[i]) || s.length !== 3) throw new Error(`${file.file}: ${name} is [${s}], grad_resid_pre [${shape}]`);
      const all = file.readFloat32(name);
      const per = positions * dModel;
      grads[name] = Array.from({ length: layers }, (_, l) => all.subarray(l * per, (l + 1) * per));
    }
    return { ids, tokens: [tokens[0], tokens[1]], metric: file.readFloat32("grad_metric")[0], grads, layers, positions, dModel, metadata: file.metadata ?? {} };
  } finally {
    file.close();
  }
}

/** The input_ids of a fixture's reference.safetensors. */
export function referenceIds(dir: string): number[] {
  const ref = SafetensorsFile.open(path.join(dir, "reference.safetensors"));
  try {
    return ref.readIntegers("input_ids");
  } finally {
    ref.close();
  }
}

/** The fixtures under `roots` holding a gradients file. */
export function fixturesWithGradients(dirs: string[]): string[] {
  return dirs.filter((d) => fs.existsSync(path.join(d, GRADIENTS_FILE)));
}

/** max |a − b| / max |b| (the scale of the reference) and where. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): { error: number; at: number; scale: number } {
  let worst = 0;
  let at = -1;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  return { error: scale > 0 ? worst / scale : worst, at, scale };
}

export interface HookComparison {
  tensor: GradientTensor;
  hook: string;
  layer: number;
  error: number;
  scale: number;
}

/** How the file's attn/mlp gradients meet lmprobe's hooks: directly, or through W_O / W_out (see the file comment). */
export type Pairing = "direct" | "through W_O and W_out";

/**
 * lmprobe's gradients of the file's metric paired with the file's, [layers][pos · width] per tensor: at
 * hook_resid_pre always; at hook_attn_out / hook_mlp_out directly, or at attn.hook_z / mlp.hook_post with the
 * file's gradients mapped by W_Oᵀ / W_outᵀ (in float64) for an old file of a model with post-norms.
 */
export async function lmprobeGradients(
  dir: string,
  ref: TorchGradients,
  backend: string,
): Promise<{ value: number; grads: Record<GradientTensor, Float32Array[]>; reference: Record<GradientTensor, Float32Array[]>; hooks: Record<GradientTensor, string>; pairing: Pairing }> {
  const model = await loadModel(dir, { backend: backend as "wasm" | "cpu" });
  const before = tf.memory().numTensors;
  try {
    if (model.nLayers !== ref.layers || model.weights.dModel !== ref.dModel) {
      throw new Error(`${dir}: the model has ${model.nLayers} layers of ${model.weights.dModel}, the gradients file [${ref.layers}, ${ref.positions}, ${ref.dModel}]`);
    }
    const postNorms = model.weights.blocks.some((b) => b.postAttnNorm !== null || b.postMlpNorm !== null);
    const pairing: Pairing = postNorms && ref.metadata.branch_point !== "added to the residual stream" ? "through W_O and W_out" : "direct";
    const hooks: Record<GradientTensor, string> =
      pairing === "direct" ? { grad_resid_pre: "hook_resid_pre", grad_attn_out: "hook_attn_out", grad_mlp_out: "hook_mlp_out" } : { grad_resid_pre: "hook_resid_pre", grad_attn_out: "attn.hook_z", grad_mlp_out: "mlp.hook_post" };
    const reference = { ...ref.grads };
    if (pairing !== "direct") {
      const mapped = (g: Float32Array[], weight: (l: number) => tf.Tensor2D) =>
        g.map((gl, l) => {
          const W = weight(l).dataSync(); // [width, d_model]
          const width = weight(l).shape[0];
          const d = ref.dModel;
          const out = new Float32Array(ref.positions * width);
          for (let t = 0; t < ref.positions; t++) {
            for (let j = 0; j < width; j++) {
              let sum = 0;
              for (let i = 0; i < d; i++) sum += gl[t * d + i] * W[j * d + i];
              out[t * width + j] = sum;
            }
          }
          return out;
        });
      reference.grad_attn_out = mapped(ref.grads.grad_attn_out, (l) => float32Weight(model.weights.blocks[l].attn.W_O));
      reference.grad_mlp_out = mapped(ref.grads.grad_mlp_out, (l) => {
        const mlp = model.weights.blocks[l].mlp;
        if (mlp.kind !== "dense") throw new Error(`${dir}: block ${l} has no dense MLP to pair mlp_out through`);
        return float32Weight(mlp.W_out);
      });
    }
    const metric = logitDiffMetric(model, ref.tokens[0], ref.tokens[1]);
    const names = Array.from({ length: ref.layers }, (_, l) => Object.values(hooks).map((h) => `blocks.${l}.${h}`)).flat();
    const g = await gradientCache(model, [ref.ids], { metric, names, cache: [], lastPositionOnly: true });
    try {
      const grads = {} as Record<GradientTensor, Float32Array[]>;
      for (const [tensor, hook] of Object.entries(hooks) as [GradientTensor, string][]) {
        grads[tensor] = [];
        for (let l = 0; l < ref.layers; l++) grads[tensor].push(Float32Array.from(await g.gradients.get(`blocks.${l}.${hook}`).data()));
      }
      return { value: g.value, grads, reference, hooks, pairing };
    } finally {
      g.dispose();
      if (tf.memory().numTensors !== before) throw new Error(`${dir}: ${tf.memory().numTensors - before} tensors left by the gradient cache`);
    }
  } finally {
    model.dispose();
  }
}

/**
 * Compares lmprobe's gradient cache with the file's PyTorch gradients: per tensor and layer the relative error
 * (see the file comment), and the metric's value.
 */
export async function compareWithTorch(dir: string, backend: string): Promise<{ ref: TorchGradients; value: number; pairing: Pairing; comparisons: HookComparison[] }> {
  const ref = readTorchGradients(dir);
  const mine = await lmprobeGradients(dir, ref, backend);
  const comparisons: HookComparison[] = [];
  for (const tensor of Object.keys(HOOKS) as GradientTensor[]) {
    for (let l = 0; l < ref.layers; l++) {
      const { error, scale } = relativeError(mine.grads[tensor][l], mine.reference[tensor][l]);
      comparisons.push({ tensor, hook: `blocks.${l}.${mine.hooks[tensor]}`, layer: l, error, scale });
    }
  }
  return { ref, value: mine.value, pairing: mine.pairing, comparisons };
}
