// Opens a Hugging Face checkpoint directory: config.json (normalised by io/config.ts), the lazy
// safetensors weights, generation_config.json and the tokenizer. Nothing here reads a weight; the
// quantisation checks look only at config.json and the safetensors headers.
import fs from "node:fs";
import path from "node:path";
import { ConfigError, MissingFileError, NotRegularFileError, TokenizerVocabError, UnsupportedFormatError } from "../errors";
import { readRegularFile } from "./regular-file";
import { normalizeConfig, type ModelConfig } from "./config";
import { quantisedTensorError } from "./safetensors";
import { Mxfp4Weights } from "./mxfp4";
import { openWeightSource } from "./safetensors-weights";
import { openGgufCheckpoint } from "./gguf/gguf-checkpoint";
import { loadTokenizer } from "./tokenizer";
import type { WeightSource } from "./weight-source";
import type { Tokenizer } from "./tokenizer-types";

export interface Checkpoint {
  /** Absolute path of the checkpoint directory. */
  dir: string;
  /** config.json as stored. */
  rawConfig: Record<string, unknown>;
  config: ModelConfig;
  /** Safetensors weights, or a GGUF file's (dequantised on read). */
  weights: WeightSource;
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

/**
 * The quantisation a Hugging Face checkpoint declares: MXFP4 (gpt-oss) is read; other schemes (FP8,
 * GPTQ/AWQ/bitsandbytes) are refused up front.
 */
function quantisationOf(configPath: string, raw: Record<string, unknown>): "mxfp4" | null {
  const quant = raw.quantization_config as { quant_method?: unknown } | undefined;
  if (quant && typeof quant === "object") {
    const method = typeof quant.quant_method === "string" ? quant.quant_method : "quantised";
    if (method === "mxfp4") return "mxfp4";
    throw new UnsupportedFormatError(configPath, `quantization_config (${method} quantised weights)`, "load the model's unquantised release (BF16, F16 or F32), or its GGUF; lmprobe reads MXFP4 and GGUF quantisations");
  }
  return null;
}

function refuseQuantisedTensors(weights: WeightSource): void {
  for (const name of weights.names()) {
    const info = weights.info(name);
    if (info.dtype.startsWith("F8_") || info.dtype === "F4" || info.dtype.startsWith("F6_")) {
      throw quantisedTensorError(info.file, name, info.dtype);
    }
    if (info.dtype === "U8" && /_(blocks|scales)$/.test(name)) throw quantisedTensorError(info.file, name, info.dtype, "MXFP4");
  }
}

/** GGUF is recognised by its magic bytes: Ollama's blobs have no extension. */
function isGgufFile(file: string): boolean {
  if (file.endsWith(".gguf")) return true;
  const fd = fs.openSync(file, "r");
  try {
    const magic = Buffer.alloc(4);
    return fs.readSync(fd, magic, 0, 4, 0) === 4 && magic.toString("latin1") === "GGUF";
  } finally {
    fs.closeSync(fd);
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


/** Opens a checkpoint directory in Hugging Face layout, or a .gguf file. The caller closes `weights` when done. */
export function openCheckpoint(dir: string): Checkpoint {
  const absolute = path.resolve(dir);
  if (!fs.existsSync(absolute)) {
    throw new MissingFileError(absolute, "checkpoint directory", "give a directory holding config.json and model.safetensors, a hub id (owner/name), or \"demo\"");
  }
  if (fs.statSync(absolute).isFile()) {
    if (isGgufFile(absolute)) return openGgufCheckpoint(absolute);
    throw new MissingFileError(absolute, "checkpoint directory (got a file)", "give the directory that holds config.json, not a file in it");
  }
  const configPath = path.join(absolute, "config.json");
  if (!fs.existsSync(configPath)) {
    // An LM Studio-style folder: one .gguf file and no config.json.
    const ggufs = fs.readdirSync(absolute).filter((f) => f.endsWith(".gguf"));
    if (ggufs.length === 1) return openGgufCheckpoint(path.join(absolute, ggufs[0]));
    if (ggufs.length > 1) {
      throw new MissingFileError(configPath, "config.json", `the directory holds ${ggufs.length} GGUF files (${ggufs.join(", ")}); give the path of the one to load`);
    }
    throw new MissingFileError(configPath, "config.json", "copy config.json from the model's repository into the directory (it describes the architecture)");
  }
  const rawConfig = readJsonObject(configPath);
  const quantisation = quantisationOf(configPath, rawConfig);
  const config = normalizeConfig(rawConfig, configPath);
  const files = openWeightSource(absolute);
  let weights: WeightSource;
  try {
    weights = quantisation === "mxfp4" ? new Mxfp4Weights(files) : files;
  } catch (e) {
    files.close();
    throw e;
  }
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
