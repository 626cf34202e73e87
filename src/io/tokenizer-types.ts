// What the engine and the probes need from a tokenizer. io/tokenizer.ts implements it over transformers.js.

/** One message of a chat, as the checkpoint's chat template takes it. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string;
}

/** The checkpoint's tokenizer (transformers.js underneath): encode, decode, token texts, chat template. */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  readonly padTokenId: number | null;
  /** Ids of the text. Special tokens (BOS) are added only when asked, as transformers' add_special_tokens. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The vocabulary strings of the ids as stored (byte-level BPE keeps "Ġ" for a leading space). */
  idsToTokens(ids: number[]): string[];
  /** Human-readable text of each id alone (decode of one id): " Paris", "\n". */
  tokenTexts(ids: number[]): string[];
  /** Id of a vocabulary string, or undefined. */
  tokenToId(token: string): number | undefined;
  readonly hasChatTemplate: boolean;
  /** Renders messages with the checkpoint's chat template. Throws if it has none. */
  applyChatTemplate(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}
