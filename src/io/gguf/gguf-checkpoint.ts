// Opens a .gguf file as a Checkpoint: config, weights and tokenizer all from the one file. Nothing here
// dequantises; weights are read (and dequantised) when the engine asks for them.
import path from "node:path";
import { normalizeConfig } from "../config";
import { tokenizerFromJson } from "../tokenizer";
import type { Checkpoint } from "../checkpoint";
import { GgufFile } from "./gguf-file";
import { GgufMetadata } from "./gguf-metadata";
import { describeGgufModel } from "./gguf-model";
import { ggufTokenizerFiles } from "./gguf-tokenizer";
import { GgufWeights } from "./gguf-weights";

export function openGgufCheckpoint(file: string): Checkpoint {
  const absolute = path.resolve(file);
  const gguf = GgufFile.open(absolute);
  try {
    const model = describeGgufModel(gguf);
    const config = normalizeConfig(model.rawConfig, `${absolute} (GGUF metadata)`);
    const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(GgufMetadata.of(gguf));
    const tokenizer = tokenizerFromJson(absolute, tokenizerJson, tokenizerConfig, { eosTokenIds: config.eosTokenIds, bosTokenId: config.bosTokenId });
    const weights = new GgufWeights(gguf, model);
    return { dir: absolute, rawConfig: model.rawConfig, config, weights, tokenizer };
  } catch (e) {
    gguf.close();
    throw e;
  }
}
