// Opens a Hugging Face checkpoint directory: config.json (normalised by io/config.ts), the lazy
// safetensors weights, generation_config.json and the tokenizer. Nothing here reads a weight; the
// quantisation checks look only at config.json and the safetensors headers.
import fs from "node:fs";
import path from "node:path";
import { ConfigError, MissingFileError, NotRegularFileError, TokenizerVocabError, UnsupportedFormatError } from "../errors";
import { readRegularFile } from "./regular-file";
import { normalizeConfig, type ModelConfig } from "./config";
import { quantisedTensorError } from "./safetensors";
import { openWeightSource, type SafetensorsWeights } from "./safetensors-weights";
import { loadTokenizer } from "./tokenizer";
import type { Tokenizer } from "./tokenizer-types";

export interface Checkpoint {
  /** Absolute path of the checkpoint directory. */
  dir: string;
  /** config.json as stored. */
  rawConfig: Record<string, unknown>;
  config: ModelConfig;
  weights: SafetensorsWeights;
  tokenizer: Tokenizer;
  /** generation_config.json, when the checkpoint has one. */
  generationConfig?: Record<string, unknown>;
}

function readJsonObject(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readRegularFile(file, path.basename(file)));
  } catch (e) {
    if (e instanceof NotRegularFileError) throw e;
    throw new ConfigError(file, "(root)", `is not valid JSON (${(e as Error).message})`, "fix or re-download the file");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(file, "(root)", "is not a JSON object", "fix or re-download the file");
  }
  return parsed as Record<string, unknown>;
}

function ids(value: unknown): number[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is number => Number.isInteger(v) && (v as number) >= 0);
}

/** Quantised weights in a Hugging Face layout (MXFP4 blocks, FP8, GPTQ/AWQ/bitsandbytes) are refused up front. */
function refuseQuantisedConfig(configPath: string, raw: Record<string, unknown>): void {
  const quant = raw.quantization_config as { quant_method?: unknown } | undefined;
  if (quant && typeof quant === "object") {
    const method = typeof quant.quant_method === "string" ? quant.quant_method : "quantised";
    throw new UnsupportedFormatError(configPath, `quantization_config (${method} quantised weights)`);
  }
}

function refuseQuantisedTensors(weights: SafetensorsWeights): void {
  for (const name of weights.names()) {
    const info = weights.info(name);
    if (info.dtype.startsWith("F8_") || info.dtype === "F4" || info.dtype.startsWith("F6_")) {
      throw quantisedTensorError(info.file, name, info.dtype);
    }
    if (info.dtype === "U8" && /_(blocks|scales)$/.test(name)) throw quantisedTensorError(info.file, name, info.dtype, "MXFP4");
  }
}

/**
 * The largest id the tokenizer can produce (its vocabulary and added/special tokens) must index a row of the
 * embedding, whose row count config.json's vocab_size gives (the weights' shapes are checked against it at
 * build); otherwise the first forward pass would fail inside gather, naming no file.
 */
function checkTokenizerFitsEmbedding(tokenizer: Tokenizer, tokenizerFile: string, config: ModelConfig): void {
  const maxId = tokenizer.vocabSize - 1;
  if (maxId < config.vocabSize) return;
  const token = tokenizer.idsToTokens([maxId])[0] ?? "";
  throw new TokenizerVocabError(tokenizerFile, config.file, token, maxId, config.vocabSize);
}

/** Opens a checkpoint directory in Hugging Face layout. The caller closes `weights` when done. */
export function openCheckpoint(dir: string): Checkpoint {
  const absolute = path.resolve(dir);
  if (!fs.existsSync(absolute)) {
    throw new MissingFileError(absolute, "checkpoint directory", "give a directory holding config.json and model.safetensors, a hub id (owner/name), or \"demo\"");
  }
  if (fs.statSync(absolute).isFile()) {
    if (absolute.endsWith(".gguf")) throw new UnsupportedFormatError(absolute, "GGUF");
    throw new MissingFileError(absolute, "checkpoint directory (got a file)", "give the directory that holds config.json, not a file in it");
  }
  const configPath = path.join(absolute, "config.json");
  if (!fs.existsSync(configPath)) {
    throw new MissingFileError(configPath, "config.json", "copy config.json from the model's repository into the directory (it describes the architecture)");
  }
  const rawConfig = readJsonObject(configPath);
  refuseQuantisedConfig(configPath, rawConfig);
  const config = normalizeConfig(rawConfig, configPath);
  const weights = openWeightSource(absolute);
  try {
    refuseQuantisedTensors(weights);
    const generationPath = path.join(absolute, "generation_config.json");
    const generationConfig = fs.existsSync(generationPath) ? readJsonObject(generationPath) : undefined;
    const tokenizer = loadTokenizer(absolute, {
      eosTokenIds: [...ids(generationConfig?.eos_token_id), ...config.eosTokenIds],
      bosTokenId: config.bosTokenId,
    });
    checkTokenizerFitsEmbedding(tokenizer, path.join(absolute, "tokenizer.json"), config);
    return { dir: absolute, rawConfig, config, weights, tokenizer, ...(generationConfig ? { generationConfig } : {}) };
  } catch (e) {
    weights.close();
    throw e;
  }
}
