// The token positions a piece of text occupies in a prompt ("France" in "The capital of France is" → [3]), found
// on the token texts so that it agrees with how the tokenizer split the prompt.
import { ArgumentError } from "../errors";

/** Positions of the tokens overlapping the first occurrence of `text` in the concatenated token texts. */
export function tokenSpan(tokenTexts: string[], text: string, argument = "subject"): number[] {
  if (typeof text !== "string" || text.trim().length === 0) throw new ArgumentError(argument, `is ${JSON.stringify(text)}`, 'name words of the prompt, e.g. "France"');
  const joined = tokenTexts.join("");
  let at = joined.indexOf(text);
  let needle = text;
  if (at < 0) {
    needle = text.trim();
    at = joined.indexOf(needle);
  }
  if (at < 0) {
    throw new ArgumentError(argument, `${JSON.stringify(text)} does not occur in the prompt (tokens: ${JSON.stringify(tokenTexts)})`, "name words that appear in the prompt, or pass token positions");
  }
  const end = at + needle.length;
  const out: number[] = [];
  let offset = 0;
  tokenTexts.forEach((t, i) => {
    const start = offset;
    offset += t.length;
    if (start < end && offset > at) out.push(i);
  });
  return out;
}
