// The memory a model needs, from config.json alone: the shapes of the weights every supported family has at
// least (embedding, attention projections, MLP or experts, untied LM head), so that a model far too large for
// this machine is refused as such before anything asks for its weight files (a 70 B config beside no weights
// says "too large", not "missing weights"). It is a lower bound: norms and biases are left out, and the exact
// check from the safetensors headers still runs once the weights are there.
import type { ModelConfig } from "./config";
import { estimateMemory, type MemoryEstimate } from "./memory-estimate";
import type { WeightSource } from "./weight-source";

/** Shapes of the weights a config implies, named as the estimate's embedding rule expects. */
export function impliedWeightShapes(config: ModelConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const { hiddenSize: d, vocabSize: vocab, numHeads, numKVHeads, headDim, intermediateSize, numLayers } = config;
  shapes.set("model.embed_tokens.weight", [vocab, d]);
  if (!config.tieWordEmbeddings) shapes.set("lm_head.weight", [vocab, d]);
  for (let layer = 0; layer < numLayers; layer++) {
    const p = `model.layers.${layer}`;
    shapes.set(`${p}.self_attn.q_proj.weight`, [numHeads * headDim, d]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [numKVHeads * headDim, d]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [numKVHeads * headDim, d]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [d, numHeads * headDim]);
    const experts = config.moe?.numExperts ?? 1;
    const inner = config.moe?.intermediateSize ?? intermediateSize;
    for (let e = 0; e < experts; e++) {
      const m = config.moe ? `${p}.mlp.experts.${e}` : `${p}.mlp`;
      shapes.set(`${m}.up_proj.weight`, [inner, d]);
      shapes.set(`${m}.down_proj.weight`, [d, inner]);
    }
  }
  return shapes;
}

/** A lower bound of estimateMemory()'s figure, from config.json only. */
export function estimateMemoryFromConfig(config: ModelConfig): MemoryEstimate {
  const shapes = impliedWeightShapes(config);
  const described = {
    names: () => [...shapes.keys()],
    // Described as BF16, the narrowest float dtype a checkpoint stores: every backend counts it as float32, except
    // one that keeps 16-bit matrices packed (webgpu), where 2 bytes per value is still a lower bound.
    info: (name: string) => ({ name, dtype: "BF16", shape: shapes.get(name)!, file: config.file }),
  } as unknown as WeightSource;
  return estimateMemory(described);
}
