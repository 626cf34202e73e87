// Writes a Hugging Face checkpoint directory (config.json, safetensors, tokenizer.json) as a GGUF file the
// way llama.cpp's convert_hf_to_gguf.py does for llama, qwen2 and gemma2: its tensor names and metadata keys,
// llama's q/k row permutation, gemma2's norm weights + 1, matrices in the requested ggml type and 1-D tensors
// in F32. Tests use it to make GGUF files whose float origin is known.
import fs from "node:fs";
import path from "node:path";
import { normalizeConfig } from "../../src/io/config";
import { ggmlType } from "../../src/io/gguf/ggml-types";
import { ggufName, unpermuteRope } from "../../src/io/gguf/gguf-model";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { quantize } from "./ggml-quantize";
import { writeGguf, type GgufTensorSpec, type GgufValue } from "./gguf-writer";

export interface ConvertOptions {
  /** ggml type of the 2-D weights (default F32). Rows that are not whole blocks stay F32, as llama-quantize falls back. */
  type?: string;
  /** Type of token_embd (default: `type`). llama.cpp dequantises it exactly (get_rows), with no activation rounding. */
  tokenEmbeddingType?: string;
  /** Leave out the tokenizer metadata. */
  noTokenizer?: boolean;
  /** Tokenizer metadata to write instead of the checkpoint's tokenizer.json. */
  tokenizer?: Array<[string, GgufValue]>;
}

/** Tokenizer metadata from tokenizer.json (byte-level BPE with the GPT-2 pre-tokenizer, as the tiny fixtures have). */
export function tokenizerMetadata(dir: string): Array<[string, GgufValue]> {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const tc = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  if (tj.model.type !== "BPE" || tj.pre_tokenizer?.type !== "ByteLevel") throw new Error("the test converter writes byte-level BPE tokenizers only");
  const byId = new Map<number, string>();
  for (const [t, id] of Object.entries(tj.model.vocab as Record<string, number>)) byId.set(id, t);
  const special = new Set<number>();
  for (const a of tj.added_tokens) { byId.set(a.id, a.content); if (a.special) special.add(a.id); }
  const size = Math.max(...byId.keys()) + 1;
  const tokens = Array.from({ length: size }, (_, i) => byId.get(i) ?? `[PAD${i}]`);
  const merges = (tj.model.merges as Array<string | string[]>).map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const id = (name: string | undefined) => (name === undefined ? undefined : tokens.indexOf(name));
  const md: Array<[string, GgufValue]> = [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: tokens.map((_, i) => (special.has(i) ? 3 : byId.has(i) ? 1 : 5)) }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
  ];
  const bos = id(tc.bos_token), eos = id(tc.eos_token);
  if (bos !== undefined && bos >= 0) md.push(["tokenizer.ggml.bos_token_id", { type: "u32", value: bos }]);
  if (eos !== undefined && eos >= 0) md.push(["tokenizer.ggml.eos_token_id", { type: "u32", value: eos }]);
  return md;
}

export function hfToGguf(dir: string, outFile: string, options: ConvertOptions = {}): string {
  const raw = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const config = normalizeConfig(raw, path.join(dir, "config.json"));
  const arch = config.modelType;
  const a = (k: string) => `${arch}.${k}`;
  const md: Array<[string, GgufValue]> = [
    ["general.architecture", { type: "string", value: arch }],
    ["general.name", { type: "string", value: path.basename(dir) }],
    [a("context_length"), { type: "u32", value: config.maxPositions }],
    [a("embedding_length"), { type: "u32", value: config.hiddenSize }],
    [a("block_count"), { type: "u32", value: config.numLayers }],
    [a("feed_forward_length"), { type: "u32", value: config.intermediateSize }],
    [a("attention.head_count"), { type: "u32", value: config.numHeads }],
    [a("attention.head_count_kv"), { type: "u32", value: config.numKVHeads }],
    [a("attention.key_length"), { type: "u32", value: config.headDim }],
    [a("attention.value_length"), { type: "u32", value: config.headDim }],
    [a("rope.dimension_count"), { type: "u32", value: config.headDim }],
    [a("rope.freq_base"), { type: "f32", value: config.rope!.theta }],
    [a("attention.layer_norm_rms_epsilon"), { type: "f32", value: config.normEps }],
    [a("vocab_size"), { type: "u32", value: config.vocabSize }],
  ];
  if (arch === "gemma2") {
    md.push([a("attention.sliding_window"), { type: "u32", value: config.slidingWindow! }]);
    md.push([a("attn_logit_softcapping"), { type: "f32", value: config.attnLogitSoftcap! }]);
    md.push([a("final_logit_softcapping"), { type: "f32", value: config.finalLogitSoftcap! }]);
  }
  if (!options.noTokenizer) md.push(...(options.tokenizer ?? tokenizerMetadata(dir)));
  const extra: GgufTensorSpec[] = [];
  const rope = config.rope!;
  if (rope.ropeType === "llama3") {
    // convert_hf_to_gguf's LlamaModel: one divisor per frequency, from transformers' llama3 rule.
    const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = rope as { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };
    const divisors = Float32Array.from({ length: config.headDim / 2 }, (_, i) => {
      const wavelen = (2 * Math.PI) / rope.theta ** (-(2 * i) / config.headDim);
      if (wavelen < old / high) return 1;
      if (wavelen > old / low) return factor;
      const smooth = (old / wavelen - low) / (high - low);
      return 1 / ((1 - smooth) / factor + smooth);
    });
    extra.push({ name: "rope_freqs.weight", type: "F32", dims: [divisors.length], data: quantize("F32", divisors) });
  } else if (rope.ropeType !== "default") {
    throw new Error(`the test converter does not write ${rope.ropeType} RoPE`);
  }

  const weights = openWeightSource(dir);
  const tensors: GgufTensorSpec[] = [...extra];
  try {
    for (const name of weights.names()) {
      if (name === "lm_head.weight" && config.tieWordEmbeddings) continue;
      const gname = ggufName(arch, name);
      if (!gname) throw new Error(`no GGUF name for ${name}`);
      const shape = weights.info(name).shape;
      let values = weights.read(name);
      const rows = shape[0], cols = shape.length === 2 ? shape[1] : 1;
      if (arch === "llama" && /attn_q\./.test(gname)) values = unpermuteRope(values, config.numHeads, rows, cols, true);
      if (arch === "llama" && /attn_k\./.test(gname)) values = unpermuteRope(values, config.numKVHeads, rows, cols, true);
      if (arch === "gemma2" && /norm\.weight$/.test(gname)) values = values.map((v) => v + 1);
      let type = shape.length === 2 ? ((gname === "token_embd.weight" ? options.tokenEmbeddingType : undefined) ?? options.type ?? "F32") : "F32";
      if (shape[shape.length - 1] % ggmlType(type).blockSize !== 0) type = "F32";
      tensors.push({ name: gname, type, dims: [...shape].reverse(), data: quantize(type, values) });
    }
  } finally {
    weights.close();
  }
  return writeGguf(outFile, md, tensors);
}

/**
 * A SentencePiece vocabulary of exactly `size` entries as llama.cpp stores one (tokenizer.ggml.model "llama"):
 * <unk>, <s>, </s>, the 256 <0xNN> byte pieces, then every character of `corpus` and seeded-random substrings
 * of its "▁"-prefixed words (each substring's prefixes included, so every piece is reachable by merges),
 * with seeded-random scores.
 */
export function sentencePieceMetadata(corpus: string, size: number, seed = 3): Array<[string, GgufValue]> {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`); types.push(6); }
  const pieces = new Set<string>();
  const words = corpus.split(/\s+/).filter(Boolean).map((w) => `\u2581${w}`);
  for (const w of words) for (const ch of w) if (ch !== "🙂") pieces.add(ch); // the emoji is left to byte fallback
  const budget = size - tokens.length;
  outer: for (let round = 0; round < 50; round++) {
    for (const w of words) {
      const chars = [...w];
      const start = Math.floor(rand() * chars.length);
      for (let end = start + 2; end <= Math.min(chars.length, start + 6); end++) {
        if (pieces.size >= budget) break outer;
        if (chars.slice(start, end).includes("🙂")) break;
        for (let e = start + 2; e <= end; e++) pieces.add(chars.slice(start, e).join(""));
      }
    }
  }
  const list = [...pieces].slice(0, budget);
  for (const p of list) { tokens.push(p); types.push(1); }
  // Fill up to `size` (the embedding's rows) with unused entries, as converters pad vocabularies.
  while (tokens.length < size) { tokens.push(`[PAD${tokens.length}]`); types.push(5); }
  const scores = tokens.map((_, i) => (types[i] === 1 ? -rand() * 10 : 0));
  return [
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: scores }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: types }],
    ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: 1 }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: 2 }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
  ];
}
