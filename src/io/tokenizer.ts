// The Tokenizer of a checkpoint directory, built by transformers.js from tokenizer.json and
// tokenizer_config.json read from disk (never from the network: we hand the parsed files to the
// tokenizer class instead of calling from_pretrained, so no hub lookup can happen). The class is chosen
// from tokenizer_config's tokenizer_class as AutoTokenizer does. The chat template comes from
// tokenizer_config.json, else chat_template.jinja, else chat_template.json, as Python transformers reads them.
import fs from "node:fs";
import path from "node:path";
import * as transformers from "@huggingface/transformers";
import { ArgumentError, ConfigError, MissingFileError, NotRegularFileError } from "../errors";
import { readRegularFile } from "./regular-file";
import type { ChatMessage, Tokenizer } from "./tokenizer-types";
import { byteNotation, tokenBytes } from "./token-bytes";

type HfTokenizer = InstanceType<typeof transformers.PreTrainedTokenizer>;

/** The core tokenizer inside transformers.js's class: the one place with id → vocabulary string. */
interface CoreTokenizer {
  id_to_token(id: number): string | undefined;
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}

export interface TokenizerOptions {
  /** End-of-sequence ids from config.json / generation_config.json, merged with the tokenizer's own. */
  eosTokenIds?: number[];
  /** BOS id from config.json, used when tokenizer_config.json names none. */
  bosTokenId?: number | null;
}

function readJson(file: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readRegularFile(file, what));
  } catch (e) {
    if (e instanceof NotRegularFileError) throw e;
    throw new ConfigError(file, "(root)", `is not valid JSON (${(e as Error).message})`, `re-download ${what}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(file, "(root)", "is not a JSON object", `re-download ${what}`);
  }
  return parsed as Record<string, unknown>;
}

/** tokenizer_config.json with the chat template filled in from the separate files newer checkpoints use. */
function readTokenizerConfig(dir: string): Record<string, unknown> {
  const configPath = path.join(dir, "tokenizer_config.json");
  const config = fs.existsSync(configPath) ? readJson(configPath, "tokenizer_config.json") : {};
  if (config.chat_template == null) {
    const jinja = path.join(dir, "chat_template.jinja");
    const json = path.join(dir, "chat_template.json");
    if (fs.existsSync(jinja)) config.chat_template = readRegularFile(jinja, "chat_template.jinja");
    else if (fs.existsSync(json)) config.chat_template = readJson(json, "chat_template.json").chat_template;
  }
  return config;
}

function tokenizerClass(config: Record<string, unknown>): typeof transformers.PreTrainedTokenizer {
  const name = typeof config.tokenizer_class === "string" ? config.tokenizer_class.replace(/Fast$/, "") : "";
  const candidate = (transformers as unknown as Record<string, unknown>)[name];
  // A class transformers.js does not know behaves as its base class: everything is in tokenizer.json.
  if (typeof candidate === "function" && candidate.prototype instanceof transformers.PreTrainedTokenizer) {
    return candidate as typeof transformers.PreTrainedTokenizer;
  }
  return transformers.PreTrainedTokenizer;
}

/** Loads the tokenizer of a checkpoint directory, offline. */
export function loadTokenizer(dir: string, options: TokenizerOptions = {}): Tokenizer {
  const jsonPath = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(jsonPath)) {
    const fix = fs.existsSync(path.join(dir, "tokenizer.model"))
      ? "only a SentencePiece tokenizer.model is present; write tokenizer.json with Python: AutoTokenizer.from_pretrained(dir).save_pretrained(dir)"
      : "copy tokenizer.json (and tokenizer_config.json) from the model's repository into the directory";
    throw new MissingFileError(jsonPath, "tokenizer", fix);
  }
  return tokenizerFromJson(dir, readJson(jsonPath, "tokenizer.json"), readTokenizerConfig(dir), options);
}

/**
 * A tokenizer from tokenizer.json and tokenizer_config.json contents (for formats that carry the vocabulary
 * elsewhere, e.g. GGUF metadata). `origin` names the source in errors.
 */
export function tokenizerFromJson(origin: string, tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, options: TokenizerOptions = {}): Tokenizer {
  let hf: HfTokenizer;
  try {
    hf = new (tokenizerClass(config))(tokenizerJson, config);
  } catch (e) {
    throw new ConfigError(origin, "tokenizer", `could not be loaded as a tokenizer (${(e as Error).message})`, "re-download the tokenizer files");
  }
  return new CheckpointTokenizer(origin, hf, options);
}

class CheckpointTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly padTokenId: number | null;
  private readonly core: CoreTokenizer;

  constructor(
    private readonly dir: string,
    private readonly hf: HfTokenizer,
    options: TokenizerOptions,
  ) {
    this.core = (hf as unknown as { _tokenizer: CoreTokenizer })._tokenizer;
    let maxId = -1;
    for (const id of this.core.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.bosTokenId = hf.bos_token_id ?? options.bosTokenId ?? null;
    const eos = [...(options.eosTokenIds ?? []), ...(hf.eos_token_id === undefined ? [] : [hf.eos_token_id])];
    this.eosTokenIds = [...new Set(eos)];
    // transformers.js falls back to eos as pad; report only a pad the checkpoint names itself.
    const pad = hf.config?.pad_token;
    this.padTokenId = pad == null ? null : (hf.pad_token_id ?? null);
  }

  get hasChatTemplate(): boolean {
    return this.hf.chat_template != null;
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    if (typeof text !== "string") throw new ArgumentError("text", `is ${typeof text}, not a string`);
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? false });
  }

  decode(ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return "";
    this.checkIds(ids);
    return this.hf.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  idsToTokens(ids: number[]): string[] {
    this.checkIds(ids);
    return ids.map((id) => this.core.id_to_token(id) as string);
  }

  tokenTexts(ids: number[]): string[] {
    this.checkIds(ids);
    return ids.map((id) => {
      const text = this.hf.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      // SentencePiece decoders strip the leading space of a sequence's first token; alone, every token
      // is "first", so "▁Paris" would read "Paris". Put the space back so tokens read as they join.
      const raw = this.core.id_to_token(id) ?? "";
      // Part of a character (a byte-fallback or byte-level token): its bytes, not "\uFFFD".
      if (text.includes("\uFFFD") && !raw.includes("\uFFFD")) {
        const bytes = tokenBytes(raw);
        if (bytes) return byteNotation(bytes);
      }
      return raw.startsWith("\u2581") && !text.startsWith(" ") ? ` ${text}` : text;
    });
  }

  tokenToId(token: string): number | undefined {
    return this.core.token_to_id(token);
  }

  applyChatTemplate(messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.hasChatTemplate) {
      throw new MissingFileError(
        path.join(this.dir, "chat_template.jinja"),
        "chat template (tokenizer_config.json has no chat_template either)",
        "this looks like a base model: encode the plain prompt instead, or load the instruction-tuned release",
      );
    }
    if (!Array.isArray(messages)) throw new ArgumentError("messages", "is not an array of {role, content}");
    return this.hf.apply_chat_template(messages, {
      tokenize: false,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    }) as string;
  }

  private checkIds(ids: number[]): void {
    if (!Array.isArray(ids)) throw new ArgumentError("ids", "is not an array of token ids");
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.core.id_to_token(id) === undefined) {
        throw new ArgumentError(`ids[${i}]`, `is ${id}, not a token id of this tokenizer`, `use ids in 0..${this.vocabSize - 1}`);
      }
    }
  }
}
