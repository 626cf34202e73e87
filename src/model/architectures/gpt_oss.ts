// gpt-oss: attention with biases and per-head sinks (the softmax runs over [keys, sink] and drops the sink),
// alternating sliding-window / full layers (layer_types), YaRN RoPE, and a mixture-of-experts MLP in every layer:
//   mlp.router.weight [experts, d] + mlp.router.bias [experts]: top-k of the logits, softmax over those k;
//   mlp.experts.gate_up_proj [experts, d, 2·width] with gate and up INTERLEAVED along the last axis (gate = even
//   columns, up = odd), gate_up_proj_bias [experts, 2·width], down_proj [experts, width, d], down_proj_bias;
//   the clamped SwiGLU (up + 1) · g · sigmoid(alpha · g), g = min(gate, limit), up clipped to ±limit.
// Released checkpoints store the experts as MXFP4 blocks/scales: refused with a clear error until quantised loading
// exists.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { WeightSource } from "../../io/weight-source";
import { ConfigError, UnsupportedDtypeError } from "../../errors";
import type { ExpertWeights, MoeWeights } from "../components/moe";
import type { CanonicalModel } from "../canonical";
import { rotaryPerLayer } from "./canonical-parts";
import { assembleModel, preNormBlock, readAttention } from "./llama-parts";
import { moeSizes } from "./mixtral";
import { WeightLoader } from "./weight-loader";
import "../components/moe"; // registers the "moe" MLP forward

/** GptOssExperts' constants (newer configs may spell them as swiglu_alpha / swiglu_limit). */
export const GPT_OSS_SWIGLU = { alpha: 1.702, limit: 7.0 };

export function convertGptOss(config: ModelConfig, weights: WeightSource): CanonicalModel {
  refuseQuantised(config, weights);
  const w = new WeightLoader(weights, "gpt_oss");
  const moe = moeSizes(config);
  const rotary = rotaryPerLayer(config);
  const glu = { kind: "clamped-swiglu" as const, alpha: numberField(config, "swiglu_alpha", GPT_OSS_SWIGLU.alpha), limit: numberField(config, "swiglu_limit", GPT_OSS_SWIGLU.limit) };
  return assembleModel(w, config, (l) => {
    const p = `model.layers.${l}.mlp.`;
    const attn = readAttention(w, config, l, rotary[l], { qkvBias: config.attentionBias, oBias: config.attentionBias, qkNorm: "none", sinks: true });
    const mlp: MoeWeights = {
      kind: "moe",
      numExperts: moe.numExperts,
      topK: moe.topK,
      routing: { order: "topk-softmax", topK: moe.topK, renormalize: false },
      W_router: w.linearFloat32(p + "router.weight", config.hiddenSize, moe.numExperts),
      b_router: w.bias(p + "router.bias", moe.numExperts, true),
      experts: readInterleavedExperts(w, config, p + "experts.", moe.numExperts),
      glu,
      dispatch: "auto",
    };
    return preNormBlock(w, config, l, attn, mlp);
  });
}

/** Splits the fused, interleaved expert tensors into one canonical expert each. */
function readInterleavedExperts(w: WeightLoader, config: ModelConfig, prefix: string, numExperts: number): ExpertWeights[] {
  const d = config.hiddenSize;
  const width = config.intermediateSize;
  const gateUp = w.tensor(prefix + "gate_up_proj", [numExperts, d, 2 * width]);
  const gateUpBias = w.tensor(prefix + "gate_up_proj_bias", [numExperts, 2 * width]);
  const down = w.tensor(prefix + "down_proj", [numExperts, width, d]);
  const downBias = w.tensor(prefix + "down_proj_bias", [numExperts, d]);
  const even = tf.range(0, 2 * width, 2, "int32");
  const odd = tf.range(1, 2 * width, 2, "int32");
  const experts = Array.from({ length: numExperts }, (_, e): ExpertWeights => {
    const fused = gateUp.slice([e, 0, 0], [1, d, 2 * width]).reshape([d, 2 * width]);
    const fusedBias = gateUpBias.slice([e, 0], [1, 2 * width]).reshape([2 * width]);
    return {
      W_gate: tf.gather(fused, even, 1) as tf.Tensor2D,
      b_gate: tf.gather(fusedBias, even) as tf.Tensor1D,
      W_in: tf.gather(fused, odd, 1) as tf.Tensor2D,
      b_in: tf.gather(fusedBias, odd) as tf.Tensor1D,
      W_out: down.slice([e, 0, 0], [1, width, d]).reshape([width, d]) as tf.Tensor2D,
      b_out: downBias.slice([e, 0], [1, d]).reshape([d]) as tf.Tensor1D,
    };
  });
  tf.dispose([gateUp, gateUpBias, down, downBias, even, odd]);
  return experts;
}

function refuseQuantised(config: ModelConfig, weights: WeightSource): void {
  const quantised = weights.names().find((n) => n.endsWith("_blocks") || n.endsWith("_scales"));
  const method = (config.raw.quantization_config as { quant_method?: unknown } | undefined)?.quant_method;
  if (quantised === undefined) return;
  throw new UnsupportedDtypeError(
    weights.info(quantised).file,
    quantised,
    `MXFP4${method ? ` (quantization_config.quant_method "${String(method)}")` : ""}`,
    "quantised gpt-oss checkpoints are not supported yet: use a dequantised copy (bf16 or f32 weights, e.g. one saved with transformers after loading with dequantize=True)",
  );
}

function numberField(config: ModelConfig, field: string, fallback: number): number {
  const v = config.raw[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new ConfigError(config.file, field, `is ${JSON.stringify(v)}, not a positive number`, `remove ${field} or set it to a positive number`);
  return v;
}
