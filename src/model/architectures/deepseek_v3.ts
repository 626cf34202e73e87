// DeepSeek-V3 (and Kimi-K2, DeepSeek-R1, which share it): multi-head latent attention (components/mla.ts), dense
// SwiGLU MLPs in the first first_k_dense_replace layers and mixtures of experts after them, with
//   group-limited routing: sigmoid scores plus e_score_correction_bias choose the experts among the topk_group best
//     of n_group groups; the weights are the unbiased scores, renormalised when norm_topk_prob, times
//     routed_scaling_factor (components/moe-router.ts "sigmoid-group-topk");
//   shared experts (n_shared_experts · moe_intermediate_size wide) that every token uses, added unscaled.
// rope_interleave: the reference de-interleaves the rotary features (pairs (2i, 2i+1) → halves) before
// rotate_half; here the rotary columns of q_b_proj / q_proj and kv_a_proj_with_mqa are permuted once at load, so
// hook_q / hook_k hold them de-interleaved and hook_rot_q / hook_rot_k equal the reference's rotated q and k.
// The latent norms use DeepseekV3RMSNorm's default eps (1e-6), as the reference constructs them.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError } from "../../errors";
import { activationFromConfig } from "../components/activations";
import type { MoeWeights } from "../components/moe";
import type { MlaWeights } from "../components/mla";
import { rotaryFromParameters } from "../components/rotary";
import type { AttentionWeights, CanonicalModel, DenseMlpWeights } from "../canonical";
import { attentionWeights } from "./canonical-parts";
import { assembleModel, preNormBlock, readSwiglu } from "./llama-parts";
import { moeSizes } from "./mixtral";
import { readExperts, sharedExpert } from "./moe-parts";
import { WeightLoader } from "./weight-loader";

const LATENT_NORM_EPS = 1e-6;

export function convertDeepseekV3(config: ModelConfig, weights: WeightSource): CanonicalModel {
  const w = new WeightLoader(weights, "deepseek_v3");
  const moe = moeSizes(config);
  const act = activationFromConfig(config.activation);
  const int = (field: string, min = 1) => {
    const v = config.raw[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw new ConfigError(config.file, field, `is ${JSON.stringify(v)}`, `set "${field}" to an integer ≥ ${min}`);
    return v;
  };
  const sizes = {
    qLora: config.raw.q_lora_rank === null || config.raw.q_lora_rank === undefined ? null : int("q_lora_rank"),
    kvLora: int("kv_lora_rank"),
    nope: int("qk_nope_head_dim", 0),
    rope: int("qk_rope_head_dim"),
    v: int("v_head_dim"),
  };
  const firstDense = int("first_k_dense_replace", 0);
  const nShared = int("n_shared_experts", 0);
  const expertWidth = moe.intermediateSize ?? config.intermediateSize;
  const interleave = config.raw.rope_interleave !== false;
  const rotary = config.rope ? rotaryFromParameters(config.rope, sizes.rope, config.maxPositions) : null;
  const routing = {
    order: "sigmoid-group-topk" as const,
    topK: moe.topK,
    renormalize: moe.normTopkProb,
    nGroups: int("n_group"),
    topkGroups: int("topk_group"),
    routedScaling: typeof config.raw.routed_scaling_factor === "number" ? config.raw.routed_scaling_factor : 1,
  };

  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.mlp.`;
    const attn = readMla(w, config, l, sizes, interleave, rotary);
    let mlp: MoeWeights | DenseMlpWeights;
    if (l < firstDense) {
      mlp = readSwiglu(w, config, p, config.intermediateSize);
    } else {
      mlp = {
        kind: "moe",
        numExperts: moe.numExperts,
        topK: moe.topK,
        routing: { ...routing, correctionBias: w.bias(p + "gate.e_score_correction_bias", moe.numExperts, true) },
        W_router: w.linearFloat32(p + "gate.weight", config.hiddenSize, moe.numExperts),
        b_router: null,
        experts: readExperts(w, config, p + "experts.", expertWidth, moe.numExperts),
        glu: { kind: "gated", act },
        dispatch: "auto",
        shared: nShared > 0 ? { expert: sharedExpert(w, config, p + "shared_experts.", expertWidth * nShared), glu: { kind: "gated", act }, gate: null } : null,
      };
    }
    return preNormBlock(w, config, l, attn, mlp);
  });
}

interface MlaSizes {
  qLora: number | null;
  kvLora: number;
  nope: number;
  rope: number;
  v: number;
}

function readMla(w: WeightLoader, config: ModelConfig, l: number, s: MlaSizes, interleave: boolean, rotary: AttentionWeights["rotary"]): AttentionWeights {
  const p = `model.layers.${l}.self_attn.`;
  const d = config.hiddenSize;
  const H = config.numHeads;
  const qk = s.nope + s.rope;
  const bias = config.attentionBias;
  // Columns of the rotary features, de-interleaved: (0, 2, 4, …, 1, 3, 5, …) within each rotary block.
  const deinterleaved = (start: number) => Array.from({ length: s.rope }, (_, j) => start + (j < s.rope / 2 ? 2 * j : 2 * (j - s.rope / 2) + 1));
  const permute = <T extends tf.Tensor>(t: T, order: number[] | null): T => {
    if (!order) return t;
    const out = tf.tidy(() => tf.gather(t, tf.tensor1d(order, "int32"), t.rank - 1)) as T;
    t.dispose();
    return out;
  };
  const qOrder = interleave ? Array.from({ length: H }, (_, h) => [...Array.from({ length: s.nope }, (_, j) => h * qk + j), ...deinterleaved(h * qk + s.nope)]).flat() : null;
  const kvaOrder = interleave ? [...Array.from({ length: s.kvLora }, (_, j) => j), ...deinterleaved(s.kvLora)] : null;

  const mla: MlaWeights = {
    W_QA: s.qLora ? w.linearFloat32(p + "q_a_proj.weight", d, s.qLora) : null,
    b_QA: s.qLora ? w.bias(p + "q_a_proj.bias", s.qLora, bias) : null,
    qANorm: s.qLora ? w.rmsNorm(p + "q_a_layernorm.weight", s.qLora, LATENT_NORM_EPS) : null,
    W_KVA: permute(w.linearFloat32(p + "kv_a_proj_with_mqa.weight", d, s.kvLora + s.rope), kvaOrder),
    b_KVA: null,
    kvANorm: w.rmsNorm(p + "kv_a_layernorm.weight", s.kvLora, LATENT_NORM_EPS),
    kvLoraRank: s.kvLora,
    nopeDim: s.nope,
    ropeDim: s.rope,
    vDim: s.v,
  };
  const kvaBias = w.bias(p + "kv_a_proj_with_mqa.bias", s.kvLora + s.rope, bias);
  mla.b_KVA = kvaBias ? permute(kvaBias, kvaOrder) : null;
  const W_Q = permute(s.qLora ? w.linearFloat32(p + "q_b_proj.weight", s.qLora, H * qk) : w.linearFloat32(p + "q_proj.weight", d, H * qk), qOrder);
  // kv_b_proj's output holds, per head, the key's nope features then the value's.
  const kvB = w.linearFloat32(p + "kv_b_proj.weight", s.kvLora, H * (s.nope + s.v));
  const [W_K, W_V] = tf.tidy(() => {
    const perHead = kvB.reshape([s.kvLora, H, s.nope + s.v]);
    return [perHead.slice([0, 0, 0], [-1, -1, s.nope]).reshape([s.kvLora, H * s.nope]), perHead.slice([0, 0, s.nope], [-1, -1, s.v]).reshape([s.kvLora, H * s.v])] as tf.Tensor2D[];
  });
  kvB.dispose();
  return attentionWeights({
    nHeads: H,
    nKVHeads: H,
    dHead: qk,
    W_Q,
    W_K,
    W_V,
    W_O: w.linear(p + "o_proj.weight", H * s.v, d),
    b_O: w.bias(p + "o_proj.bias", d, bias),
    rotary,
    scale: Math.fround(qk ** -0.5 * yarnMscaleSquared(config)),
    mla,
  });
}

/** DeepseekV3Attention: with scaled RoPE and mscale_all_dim, the softmax scale gains mscale² (yarn_get_mscale). */
function yarnMscaleSquared(config: ModelConfig): number {
  const r = config.rope;
  if (!r || r.ropeType === "default" || !r.mscaleAllDim || !r.factor || r.factor <= 1) return 1;
  const mscale = 0.1 * r.mscaleAllDim * Math.log(r.factor) + 1;
  return mscale * mscale;
}
