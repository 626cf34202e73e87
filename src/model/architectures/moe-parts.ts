// Expert weights as mixture-of-experts checkpoints store them, for the families that share the layout
// (Qwen2-MoE, OLMoE, DeepSeek-V3): one nn.Linear per expert and projection (`experts.{e}.gate_proj.weight` …, the
// hub format), or the fused tensors newer transformers keep in memory (`experts.gate_up_proj` [experts,
// 2·width, d_model] with gate rows first, `experts.down_proj` [experts, d_model, width]).
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../io/config";
import type { ExpertWeights } from "../components/moe";
import { readSeparateExperts } from "./mixtral";
import type { WeightLoader } from "./weight-loader";

export function readExperts(w: WeightLoader, config: ModelConfig, prefix: string, width: number, numExperts: number): ExpertWeights[] {
  if (!w.has(prefix + "gate_up_proj")) return readSeparateExperts(w, config, prefix, { gate: "gate_proj", up: "up_proj", down: "down_proj" }, width, numExperts);
  const d = config.hiddenSize;
  const gateUp = w.tensor(prefix + "gate_up_proj", [numExperts, 2 * width, d]);
  const down = w.tensor(prefix + "down_proj", [numExperts, d, width]);
  const experts = Array.from({ length: numExperts }, (_, e): ExpertWeights => {
    const [W_gate, W_in, W_out] = tf.tidy(() => {
      const fused = gateUp.slice([e, 0, 0], [1, 2 * width, d]).reshape([2 * width, d]);
      return [fused.slice([0, 0], [width, d]).transpose(), fused.slice([width, 0], [width, d]).transpose(), down.slice([e, 0, 0], [1, d, width]).reshape([d, width]).transpose()] as tf.Tensor2D[];
    });
    return { W_gate, b_gate: null, W_in, b_in: null, W_out, b_out: null };
  });
  tf.dispose([gateUp, down]);
  return experts;
}

/** A shared expert (a plain SwiGLU under `prefix`: gate_proj, up_proj, down_proj) as an ExpertWeights record. */
export function sharedExpert(w: WeightLoader, config: ModelConfig, prefix: string, width: number): ExpertWeights {
  const d = config.hiddenSize;
  return {
    W_gate: w.linearFloat32(prefix + "gate_proj.weight", d, width),
    b_gate: null,
    W_in: w.linearFloat32(prefix + "up_proj.weight", d, width),
    b_in: null,
    W_out: w.linearFloat32(prefix + "down_proj.weight", width, d),
    b_out: null,
  };
}
