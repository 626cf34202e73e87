// Reads the oracle fixtures for the tensor/ and probe/ tests: reference tensors, and each fixture's final
// norm and unembedding, built here from the checkpoint's own weights (a test-side float32 reimplementation
// of the reference's LayerNorm / RMSNorm, independent of the engine).
import path from "node:path";
import fs from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { SafetensorsFile } from "../../src/io/safetensors";
import { openWeightSource } from "../../src/io/safetensors-weights";
import type { Unembedding } from "../../src/tensor/unembedding";

export const FIXTURES = path.resolve(__dirname, "../fixtures");
export const DEMO_DIR = path.resolve(__dirname, "../../models/lmprobe-demo");

export interface Reference {
  dir: string;
  json: {
    text: string;
    tokens: string[];
    num_layers: number;
    hidden_size: number;
    vocab_size: number;
    lens_last_top5: { ids: number[]; tokens: string[]; probs: number[] }[];
    keys: Record<string, number[]>;
  };
  /** A reference tensor as float32 values with its shape. */
  tensor(name: string): { data: Float32Array; shape: number[] };
  ints(name: string): number[];
}

export function reference(dir: string): Reference {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "reference.json"), "utf8"));
  const file = path.join(dir, "reference.safetensors");
  return {
    dir,
    json,
    tensor(name) {
      const st = SafetensorsFile.open(file);
      try {
        return { data: st.readFloat32(name), shape: st.entry(name).shape };
      } finally {
        st.close();
      }
    },
    ints(name) {
      const st = SafetensorsFile.open(file);
      try {
        return st.readIntegers(name);
      } finally {
        st.close();
      }
    },
  };
}

export interface LensHead {
  finalNorm: (x: tf.Tensor2D) => tf.Tensor2D;
  unembedding: Unembedding;
  dispose(): void;
}

/** The final norm and unembedding of a fixture checkpoint (or the demo model), from its own weights. */
export function lensHead(checkpointDir: string): LensHead {
  const config = JSON.parse(fs.readFileSync(path.join(checkpointDir, "config.json"), "utf8"));
  const w = openWeightSource(checkpointDir);
  const read = (name: string, shape: number[]) => tf.tensor(w.read(name), shape);
  const d: number = config.hidden_size ?? config.n_embd;
  const V: number = config.vocab_size;
  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T) => (owned.push(t), t);
  let finalNorm: LensHead["finalNorm"];
  let weightName: string;
  if (config.model_type === "gpt2" || config.model_type === "gpt_neox") {
    const prefix = config.model_type === "gpt2" ? "transformer.ln_f" : "gpt_neox.final_layer_norm";
    const g = keep(read(`${prefix}.weight`, [d]));
    const b = keep(read(`${prefix}.bias`, [d]));
    const eps = config.layer_norm_epsilon ?? config.layer_norm_eps;
    finalNorm = (x) =>
      tf.tidy(() => {
        const { mean, variance } = tf.moments(x, 1, true);
        return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), g), b) as tf.Tensor2D;
      });
    weightName = config.model_type === "gpt2" ? "transformer.wte.weight" : "embed_out.weight";
  } else {
    const raw = read("model.norm.weight", [d]);
    // Gemma's RMSNorm scales by (1 + w).
    const g = keep(config.model_type.startsWith("gemma") ? tf.tidy(() => tf.add(raw, 1)) : tf.clone(raw));
    raw.dispose();
    finalNorm = (x) =>
      tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), config.rms_norm_eps))), g) as tf.Tensor2D);
    weightName = config.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  }
  const weight = keep(read(weightName, [V, d]) as tf.Tensor2D);
  w.close();
  return {
    finalNorm,
    unembedding: { weight, layout: "vocab_d", bias: null, softcap: config.final_logit_softcapping ?? null },
    dispose: () => tf.dispose(owned),
  };
}

/** |a − e| ≤ atol + rtol·|e| count of violations and the worst one, for readable failures on big tensors. */
export function worstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number) {
  let bad = 0;
  let worst = { index: -1, actual: 0, expected: 0, excess: 0 };
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Number.isNaN(a) ? Infinity : Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > 0 && !(a === e)) {
      bad++;
      if (excess > worst.excess) worst = { index: i, actual: a, expected: e, excess };
    }
  }
  return { bad, worst };
}
