// A GGUF file's tokenizer (tokenizer.ggml.* metadata, as llama.cpp stores it) rewritten as the tokenizer.json
// and tokenizer_config.json that transformers would use for the same vocabulary, so transformers.js tokenises
// it. Two vocabulary kinds:
//  - "gpt2": byte-level BPE. Tokens are already in byte-level form; merges are listed. The pre-tokenizer
//    regex depends on tokenizer.ggml.pre (llama.cpp's llama-vocab.cpp keeps one per model family); the
//    families whose regex is known here are mapped, any other is refused by name rather than guessed.
//  - "llama": SentencePiece. llama.cpp merges the adjacent pair whose joined piece has the highest score;
//    a BPE whose merges are ranked by that score (transformers' SentencePieceExtractor) does the same, with
//    "▁" for spaces, a prefix space, and <0xNN> byte fallback.
import { GgufFormatError, UnsupportedFormatError } from "../../errors";
import type { GgufMetadata } from "./gguf-metadata";

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** tokenizer.ggml.pre → [regex, ignore_merges] as llama.cpp's llama-vocab.cpp sets them. */
const BPE_PRE: Record<string, { regex: string | null; ignoreMerges: boolean }> = {
  "gpt-2": { regex: null, ignoreMerges: false },
  "llama-bpe": { regex: LLAMA3_REGEX, ignoreMerges: true },
  llama3: { regex: LLAMA3_REGEX, ignoreMerges: true },
  qwen2: { regex: QWEN2_REGEX, ignoreMerges: false },
};

export interface GgufTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

export function ggufTokenizerFiles(meta: GgufMetadata): GgufTokenizerFiles {
  const fix = "the GGUF has no tokenizer; it cannot be probed on text without one";
  if (!meta.has("tokenizer.ggml.model")) {
    throw new GgufFormatError(meta.file, 'metadata["tokenizer.ggml.model"]', "is missing", fix);
  }
  const kind = meta.string("tokenizer.ggml.model");
  const tokens = meta.stringArray("tokenizer.ggml.tokens", fix);
  const types = meta.optionalNumberArray("tokenizer.ggml.token_type", tokens.length) ?? tokens.map(() => TOKEN_TYPE.normal);
  const bos = meta.optionalTokenId("tokenizer.ggml.bos_token_id", tokens.length);
  const eos = meta.optionalTokenId("tokenizer.ggml.eos_token_id", tokens.length);
  const unk = meta.optionalTokenId("tokenizer.ggml.unknown_token_id", tokens.length);
  const pad = meta.optionalTokenId("tokenizer.ggml.padding_token_id", tokens.length);
  const addBos = meta.optionalBool("tokenizer.ggml.add_bos_token") ?? kind === "llama";
  const addEos = meta.optionalBool("tokenizer.ggml.add_eos_token") ?? false;

  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => {
    if (!(t in vocab)) vocab[t] = id;
  });
  const addedTokens = tokens.flatMap((content, id) =>
    types[id] === TOKEN_TYPE.control || types[id] === TOKEN_TYPE.userDefined || (kind === "llama" && types[id] === TOKEN_TYPE.unknown)
      ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: types[id] === TOKEN_TYPE.userDefined, special: types[id] !== TOKEN_TYPE.userDefined }]
      : [],
  );
  const single = [...(addBos && bos !== null ? [{ SpecialToken: { id: tokens[bos], type_id: 0 } }] : []), { Sequence: { id: "A", type_id: 0 } }, ...(addEos && eos !== null ? [{ SpecialToken: { id: tokens[eos], type_id: 0 } }] : [])];
  const specials: Record<string, unknown> = {};
  for (const id of [addBos ? bos : null, addEos ? eos : null]) if (id !== null) specials[tokens[id]] = { id: tokens[id], ids: [id], tokens: [tokens[id]] };
  const postProcessor = { type: "TemplateProcessing", single, pair: [...single, { Sequence: { id: "B", type_id: 1 } }], special_tokens: specials };

  let tokenizerJson: Record<string, unknown>;
  if (kind === "gpt2") {
    const preName = meta.optionalString("tokenizer.ggml.pre") ?? "default";
    const pre = BPE_PRE[preName];
    if (!pre) {
      throw new UnsupportedFormatError(meta.file, `BPE pre-tokenizer "${preName}" (metadata["tokenizer.ggml.pre"])`, `lmprobe maps ${Object.keys(BPE_PRE).join(", ")}; load the Hugging Face release, whose tokenizer.json carries the pre-tokenizer`);
    }
    const merges = meta.stringArray("tokenizer.ggml.merges", "a gpt2 (BPE) vocabulary needs its merges; re-convert the model");
    const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: pre.regex === null };
    tokenizerJson = {
      version: "1.0",
      added_tokens: addedTokens,
      normalizer: null,
      pre_tokenizer: pre.regex === null ? byteLevel : { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: pre.regex }, behavior: "Isolated", invert: false }, byteLevel] },
      post_processor: postProcessor,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges, vocab, merges },
    };
  } else if (kind === "llama") {
    const scores = meta.optionalNumberArray("tokenizer.ggml.scores", tokens.length);
    if (!scores) throw new GgufFormatError(meta.file, 'metadata["tokenizer.ggml.scores"]', "is missing; a SentencePiece (llama) vocabulary needs its scores");
    const addSpacePrefix = meta.optionalBool("tokenizer.ggml.add_space_prefix") ?? true;
    tokenizerJson = {
      version: "1.0",
      added_tokens: addedTokens,
      normalizer: { type: "Sequence", normalizers: [...(addSpacePrefix ? [{ type: "Prepend", prepend: "\u2581" }] : []), { type: "Replace", pattern: { String: " " }, content: "\u2581" }] },
      pre_tokenizer: null,
      post_processor: postProcessor,
      decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, ...(addSpacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : [])] },
      model: { type: "BPE", dropout: null, unk_token: unk === null ? null : tokens[unk], continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: sentencePieceMerges(tokens, scores, types) },
    };
  } else {
    throw new UnsupportedFormatError(meta.file, `tokenizer kind "${kind}" (metadata["tokenizer.ggml.model"])`, 'lmprobe reads "gpt2" (BPE) and "llama" (SentencePiece) vocabularies');
  }
  const name = (id: number | null) => (id === null ? null : tokens[id]);
  const tokenizerConfig: Record<string, unknown> = {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: name(bos),
    eos_token: name(eos),
    unk_token: name(unk),
    pad_token: name(pad),
    add_bos_token: addBos,
    add_eos_token: addEos,
    chat_template: meta.optionalString("tokenizer.chat_template"),
  };
  return { tokenizerJson, tokenizerConfig };
}

/**
 * BPE merges equivalent to SentencePiece's score-driven merging: every split of a normal piece into two
 * pieces of the vocabulary is a merge, ranked by the joined piece's score (highest first), then by the ids
 * of its parts (as transformers' SentencePieceExtractor orders them).
 */
function sentencePieceMerges(tokens: string[], scores: number[], types: number[]): string[][] {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (types[i] === TOKEN_TYPE.normal && !ids.has(t)) ids.set(t, i);
  });
  const merges: Array<{ left: string; right: string; score: number; l: number; r: number }> = [];
  for (const [piece, id] of ids) {
    const chars = [...piece];
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join("");
      const right = chars.slice(i).join("");
      const l = ids.get(left), r = ids.get(right);
      if (l !== undefined && r !== undefined) merges.push({ left, right, score: scores[id], l, r });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.l - b.l || a.r - b.r);
  return merges.map((m) => [m.left, m.right]);
}
