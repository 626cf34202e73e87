// Activation functions, computed as the reference's ACT2FN entries compute them in float32.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../../errors";
import type { ActivationName } from "../canonical";
import { ownEntry } from "../../own-key";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function applyActivation(x: tf.Tensor, act: ActivationName): tf.Tensor {
  switch (act) {
    case "silu":
      return tf.mul(x, tf.sigmoid(x));
    case "gelu":
      // x · ½ (1 + erf(x / √2)): torch's exact GELU.
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case "gelu_tanh": {
      // ½ x (1 + tanh(u)), u = √(2/π) (x + 0.044715 x³): "gelu_new" / "gelu_pytorch_tanh". x³ as x·x·x, as torch's
      // pow kernel computes an exponent of 3. ½ (1 + tanh(u)) = sigmoid(2u) exactly; the sigmoid form is taken
      // because tfjs-wasm's tanh is ~25× slower than its sigmoid, and it differs from the tanh form by rounding
      // only (≤ 5e-7 over |x| ≤ 12, both within 5e-7 of the float64 value).
      const inner = tf.mul(tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))), SQRT_2_OVER_PI);
      return tf.mul(x, tf.sigmoid(tf.mul(inner, 2)));
    }
    case "gelu_quick":
      return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
    case "relu":
      return tf.relu(x);
  }
}

/** Maps a config.json activation name (hidden_act, hidden_activation, activation_function) onto ours. */
export function activationFromConfig(name: string, field = "hidden_act"): ActivationName {
  const mapped = ownEntry(HF_ACTIVATIONS, name);
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
