// Turning what a user passes (text, texts, ids, batches of ids, chat messages) into a left-padded batch: ids, the
// key mask and position ids = cumsum(mask) − 1 clipped at 0, as transformers' generate builds them.
import { ArgumentError, ContextLengthError } from "../errors";
import type { ChatMessage, Tokenizer } from "../io/tokenizer-types";

/** What a model takes as input: text, a batch of texts, token ids, a batch of ids, or chat messages. */
export type ModelInput = string | string[] | number[] | number[][] | ChatMessage[];

/** How a text input is tokenised: a BOS token or not, the chat template or not. */
export interface TokenizeOptions {
  /** Force (true) or suppress (false) a BOS token; by default the tokenizer's own add_special_tokens behaviour. */
  prependBos?: boolean;
  /** Wrap text in the checkpoint's chat template as a user message (ChatMessage[] input implies it). */
  chat?: boolean;
}

export interface Batch {
  /** The unpadded token ids of each row. */
  tokens: number[][];
  /** Left-padded ids [batch][pos]. */
  ids: number[][];
  /** 1 for real tokens, 0 for padding, per row. */
  keyValid: Uint8Array[];
  /** Position ids per row: cumsum(mask) − 1, clipped at 0. */
  positions: number[][];
}

export interface TokenizerContext {
  tokenizer: Tokenizer;
  vocabSize: number;
  maxPositions: number;
  padTokenId: number;
}

export function isChat(input: unknown): input is ChatMessage[] {
  return Array.isArray(input) && input.length > 0 && typeof input[0] === "object" && input[0] !== null && !Array.isArray(input[0]) && "role" in input[0];
}

/** Token ids of each row of `input` (before padding). */
export function tokenize(ctx: TokenizerContext, input: ModelInput, opts: TokenizeOptions = {}): number[][] {
  if (typeof input === "string") return [encodeText(ctx, input, opts)];
  if (!Array.isArray(input) || input.length === 0) {
    throw new ArgumentError("input", "is empty or not text/ids", 'pass a string, a list of strings, token ids, or chat messages [{ role: "user", content }]');
  }
  if (isChat(input)) return [encodeChat(ctx, input)];
  const items: unknown[] = input;
  if (items.every((x) => typeof x === "string")) return (input as string[]).map((t) => encodeText(ctx, t, opts));
  if (items.every((x) => typeof x === "number")) return [checkIds(ctx, input as number[], "input")];
  if (items.every((x) => Array.isArray(x))) return (input as number[][]).map((row, i) => checkIds(ctx, row, `input[${i}]`));
  throw new ArgumentError("input", "mixes strings, numbers and lists", "pass one kind: a string, strings, ids, or rows of ids");
}

function encodeText(ctx: TokenizerContext, text: string, opts: TokenizeOptions): number[] {
  if (opts.chat) return encodeChat(ctx, [{ role: "user", content: text }]);
  const { tokenizer } = ctx;
  let ids = tokenizer.encode(text, { addSpecialTokens: opts.prependBos !== false });
  const bos = tokenizer.bosTokenId;
  if (opts.prependBos === true) {
    if (bos === null) throw new ArgumentError("prependBos", "is true but the tokenizer has no BOS token", "leave prependBos unset");
    if (ids[0] !== bos) ids = [bos, ...ids];
  }
  if (ids.length === 0) throw new ArgumentError("input", "tokenizes to no tokens", "pass non-empty text");
  return ids;
}

function encodeChat(ctx: TokenizerContext, messages: ChatMessage[]): number[] {
  if (!ctx.tokenizer.hasChatTemplate) {
    throw new ArgumentError("chat", "was asked for but this checkpoint has no chat template", "pass plain text, or use a checkpoint whose tokenizer_config.json has a chat_template");
  }
  const text = ctx.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  // The template writes any BOS itself.
  return ctx.tokenizer.encode(text, { addSpecialTokens: false });
}

function checkIds(ctx: TokenizerContext, ids: number[], argument: string): number[] {
  if (ids.length === 0) throw new ArgumentError(argument, "is an empty list of ids", "pass at least one token id");
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= ctx.vocabSize) {
      throw new ArgumentError(`${argument}[${i}]`, `is ${id}, not a token id of this model (0 … ${ctx.vocabSize - 1})`, "pass ids from model.toTokens()");
    }
  });
  return ids;
}

/** Left-pads rows to one length; throws ContextLengthError when the longest row (plus `extra` tokens) exceeds the context. */
export function padBatch(rows: number[][], padTokenId: number, maxPositions: number, extra = 0): Batch {
  const longest = Math.max(...rows.map((r) => r.length));
  if (longest + extra > maxPositions) throw new ContextLengthError(longest + extra, maxPositions);
  const ids: number[][] = [];
  const keyValid: Uint8Array[] = [];
  const positions: number[][] = [];
  for (const row of rows) {
    const pad = longest - row.length;
    ids.push([...new Array(pad).fill(padTokenId), ...row]);
    const valid = new Uint8Array(longest);
    valid.fill(1, pad);
    keyValid.push(valid);
    positions.push(positionsFromMask(valid));
  }
  return { tokens: rows.map((r) => [...r]), ids, keyValid, positions };
}

/** cumsum(mask) − 1, clipped at 0 (padding positions get 0). */
export function positionsFromMask(mask: ArrayLike<number>): number[] {
  const out: number[] = [];
  let count = 0;
  for (let i = 0; i < mask.length; i++) {
    count += mask[i];
    out.push(Math.max(count - 1, 0));
  }
  return out;
}
