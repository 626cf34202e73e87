// Activation functions, computed as the reference's ACT2FN entries compute them in float32.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../../errors";
import type { ActivationName } from "../canonical";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function applyActivation(x: tf.Tensor, act: ActivationName): tf.Tensor {
  switch (act) {
    case "silu":
      return tf.mul(x, tf.sigmoid(x));
    case "gelu":
      // x · ½ (1 + erf(x / √2)): torch's exact GELU.
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case "gelu_tanh": {
      // ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))): "gelu_new" / "gelu_pytorch_tanh".
      const inner = tf.mul(tf.add(x, tf.mul(0.044715, tf.pow(x, 3))), SQRT_2_OVER_PI);
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
    case "gelu_quick":
      return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
    case "relu":
      return tf.relu(x);
  }
}

/** Maps a config.json activation name (hidden_act, hidden_activation, activation_function) onto ours. */
export function activationFromConfig(name: string, field = "hidden_act"): ActivationName {
  const mapped = HF_ACTIVATIONS[name];
  if (!mapped) {
    throw new ArgumentError(field, `is "${name}", an activation lmprobe does not implement`, `supported: ${Object.keys(HF_ACTIVATIONS).join(", ")}`);
  }
  return mapped;
}

const HF_ACTIVATIONS: Record<string, ActivationName> = {
  silu: "silu",
  swish: "silu",
  gelu: "gelu",
  gelu_new: "gelu_tanh",
  gelu_pytorch_tanh: "gelu_tanh",
  gelu_fast: "gelu_tanh",
  quick_gelu: "gelu_quick",
  relu: "relu",
};
