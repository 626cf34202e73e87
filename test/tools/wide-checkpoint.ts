// A seeded random checkpoint shaped like a tiny fixture (same family, tokenizer and config fields) but with
// hidden size 256 and MLP width 512, so every matrix row is a whole number of K-quant super-blocks (256
// values): the tiny fixtures' 64-wide rows only take the 32-value block types.
import fs from "node:fs";
import path from "node:path";
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { seededRandom } from "../../src/model/sampling";

/** `dtype`: how every tensor is stored (BF16 as the hub serves most 1–8 B models; values rounded to it). */
export function writeWideCheckpoint(fixtureDir: string, outDir: string, seed = 7, layers?: number, dtype: "F32" | "BF16" = "F32"): string {
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
    if (fs.existsSync(path.join(fixtureDir, f))) fs.copyFileSync(path.join(fixtureDir, f), path.join(outDir, f));
  }
  const config = JSON.parse(fs.readFileSync(path.join(fixtureDir, "config.json"), "utf8"));
  Object.assign(config, { hidden_size: 256, intermediate_size: 512, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 64 });
  if (config.query_pre_attn_scalar !== undefined) config.query_pre_attn_scalar = 64;
  if (layers !== undefined) {
    config.num_hidden_layers = layers;
    if (Array.isArray(config.layer_types)) config.layer_types = Array.from({ length: layers }, (_, i) => config.layer_types[i % config.layer_types.length]);
  }
  fs.writeFileSync(path.join(outDir, "config.json"), JSON.stringify(config, null, 2));
  const rand = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const tensors: Record<string, TensorToWrite> = {};
  const gemma = config.model_type === "gemma2";
  const mat = (name: string, rows: number, cols: number, std: number) => {
    tensors[name] = { dtype: "F32", shape: [rows, cols], data: Float32Array.from({ length: rows * cols }, () => normal() * std) };
  };
  // Gemma multiplies by (1 + w), the others by w: both centred on a gain of 1.
  const norm = (name: string) => {
    tensors[name] = { dtype: "F32", shape: [256], data: Float32Array.from({ length: 256 }, () => (gemma ? 0 : 1) + normal() * 0.1) };
  };
  const vec = (name: string, n: number) => {
    tensors[name] = { dtype: "F32", shape: [n], data: Float32Array.from({ length: n }, () => normal() * 0.02) };
  };
  const v = config.vocab_size;
  mat("model.embed_tokens.weight", v, 256, config.tie_word_embeddings ? 0.06 : 1);
  norm("model.norm.weight");
  if (!config.tie_word_embeddings) mat("lm_head.weight", v, 256, 0.06);
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    mat(`${p}.self_attn.q_proj.weight`, 256, 256, 0.06);
    mat(`${p}.self_attn.k_proj.weight`, 128, 256, 0.06);
    mat(`${p}.self_attn.v_proj.weight`, 128, 256, 0.06);
    mat(`${p}.self_attn.o_proj.weight`, 256, 256, 0.06);
    mat(`${p}.mlp.gate_proj.weight`, 512, 256, 0.06);
    mat(`${p}.mlp.up_proj.weight`, 512, 256, 0.06);
    mat(`${p}.mlp.down_proj.weight`, 256, 512, 0.04);
    norm(`${p}.input_layernorm.weight`);
    norm(`${p}.post_attention_layernorm.weight`);
    if (gemma) {
      norm(`${p}.pre_feedforward_layernorm.weight`);
      norm(`${p}.post_feedforward_layernorm.weight`);
    }
    if (config.model_type === "qwen2") {
      vec(`${p}.self_attn.q_proj.bias`, 256);
      vec(`${p}.self_attn.k_proj.bias`, 128);
      vec(`${p}.self_attn.v_proj.bias`, 128);
    }
  }
  for (const t of Object.values(tensors)) t.dtype = dtype;
  writeSafetensors(path.join(outDir, "model.safetensors"), tensors);
  return outDir;
}
