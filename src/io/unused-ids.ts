// Texts of token ids for a model whose unembedding has more rows than its tokenizer has tokens: vocabularies padded
// to a multiple of 64 or 128 for the matrix kernels (Pythia / GPT-NeoX: 50304 rows for 50277 tokens; Qwen2.5:
// 151936 for 151665; OLMo: 50304 for 50280). Those rows get logits like any other, so a logit lens's top tokens or a
// sampled continuation can name an id that no token has. Its text is a marker naming the id (transformers' decode
// leaves such ids out silently); an id past the model's rows is still an error.
import type { Tokenizer } from "./tokenizer-types";

/** The text shown for an id the model has a row for and its tokenizer no token. */
export function unusedIdText(id: number): string {
  return `<no token ${id}>`;
}

/** Whether `id` is one of the model's `rows` that the tokenizer has no token for. */
function unused(tokenizer: Tokenizer, id: number, rows: number): boolean {
  return Number.isInteger(id) && id >= tokenizer.vocabSize && id < rows;
}

/** tokenizer.tokenTexts for a model of `rows` unembedding rows: ids past the tokenizer's tokens read as unusedIdText. */
export function tokenTextsOfRows(tokenizer: Tokenizer, ids: number[], rows: number): string[] {
  if (!ids.some((id) => unused(tokenizer, id, rows))) return tokenizer.tokenTexts(ids);
  const out = new Array<string>(ids.length);
  const known: number[] = [];
  const at: number[] = [];
  ids.forEach((id, i) => {
    if (unused(tokenizer, id, rows)) out[i] = unusedIdText(id);
    else {
      known.push(id);
      at.push(i);
    }
  });
  tokenizer.tokenTexts(known).forEach((text, j) => (out[at[j]] = text));
  return out;
}

/**
 * tokenizer.decode for a model of `rows` unembedding rows: each run of the tokenizer's ids decoded together (so a
 * character split over several byte tokens joins), unusedIdText for each id past its tokens.
 */
export function decodeOfRows(tokenizer: Tokenizer, ids: number[], rows: number, options: { skipSpecialTokens?: boolean } = {}): string {
  if (!ids.some((id) => unused(tokenizer, id, rows))) return tokenizer.decode(ids, options);
  let text = "";
  let run: number[] = [];
  for (const id of ids) {
    if (!unused(tokenizer, id, rows)) {
      run.push(id);
      continue;
    }
    text += tokenizer.decode(run, options) + unusedIdText(id);
    run = [];
  }
  return text + tokenizer.decode(run, options);
}
