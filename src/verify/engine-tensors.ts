// The engine's counterparts of a reference file's tensors (format of test/fixtures/tiny/*/reference.safetensors,
// batch dimension dropped), computed from one run of the prompt: the residual stream, hidden states (last entry
// final-normed, as transformers returns it), attention patterns, the logit lens and layer similarities.
import * as tf from "@tensorflow/tfjs-core";
import type { LanguageModel } from "../model/model";
import { cosineSimilarityMatrix, entropy, logSoftmax } from "../tensor";

export const COMPARED_TENSORS = [
  "logits",
  "resid_post",
  "hidden_states",
  "attentions",
  "lens_logprobs",
  "lens_entropy",
  "layer_cos_last",
  "layer_cos_flat",
  "router_logits",
] as const;
export type ComparedTensor = (typeof COMPARED_TENSORS)[number];

export interface EngineTensor {
  data: Float32Array;
  shape: number[];
}

/** Runs `ids` once and returns host copies of the requested tensors. */
export async function engineTensors(model: LanguageModel, ids: number[], wanted: readonly ComparedTensor[]): Promise<Map<ComparedTensor, EngineTensor>> {
  const hasRouter = model.hookPoints().some((n) => n.endsWith("mlp.hook_router_logits"));
  const cacheNames = ["resid_pre", "resid_post", "pattern", ...(hasRouter && wanted.includes("router_logits") ? ["router_logits"] : [])];
  const result = model.run([ids], { cache: cacheNames });
  const out = new Map<ComparedTensor, EngineTensor>();
  try {
    const device = tf.tidy(() => {
      const L1 = model.nLayers + 1;
      const T = ids.length;
      const resid = result.cache.accumulatedResid().squeeze([1]); // [L+1, T, d]
      const d = resid.shape[2]!;
      const tensors: Partial<Record<ComparedTensor, tf.Tensor>> = {};
      tensors.logits = result.logits.squeeze([0]);
      tensors.resid_post = resid;
      const lastNormed = model.applyFinalNorm(resid.slice([L1 - 1, 0, 0], [1, T, d]));
      tensors.hidden_states = tf.concat([resid.slice([0, 0, 0], [L1 - 1, T, d]), lastNormed], 0);
      tensors.attentions = result.cache.stack("pattern").squeeze([1]); // [L, H, T, T]
      if (wanted.includes("lens_logprobs") || wanted.includes("lens_entropy")) {
        const lensLogits = model.unembed(model.applyFinalNorm(resid)); // [L+1, T, V]
        tensors.lens_logprobs = logSoftmax(lensLogits);
        tensors.lens_entropy = entropy(lensLogits);
      }
      tensors.layer_cos_last = cosineSimilarityMatrix(resid.slice([0, T - 1, 0], [L1, 1, d]).reshape([L1, d]));
      tensors.layer_cos_flat = cosineSimilarityMatrix(resid.reshape([L1, T * d]));
      if (hasRouter) {
        // [MoE layers, T, E]: dense layers of a partly sparse model (Qwen3-MoE's mlp_only_layers) have no router,
        // and the reference file lists only the layers that route (reference.json's router_layers).
        const routed = Array.from({ length: model.nLayers }, (_, l) => l).filter((l) => result.cache.has("router_logits", l));
        tensors.router_logits = tf.stack(routed.map((l) => result.cache.get("router_logits", l))).squeeze([1]);
      }
      const kept: Partial<Record<ComparedTensor, tf.Tensor>> = {};
      for (const name of wanted) if (tensors[name]) kept[name] = tensors[name];
      return kept as Record<string, tf.Tensor>;
    });
    try {
      for (const [name, t] of Object.entries(device)) out.set(name as ComparedTensor, { data: (await t.data()) as Float32Array, shape: t.shape });
    } finally {
      tf.dispose(Object.values(device));
    }
  } finally {
    result.dispose();
  }
  return out;
}
