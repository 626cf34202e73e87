// Readable texts of many token ids, decoded once per distinct id and model: a probe's tables name thousands of
// top tokens, mostly the same ids from one call to the next, and decoding one id costs microseconds.
import type { ProbeModel } from "./types";

type Decoder = Pick<ProbeModel, "toStrTokens">;
const decoded = new WeakMap<Decoder, Map<number, string>>();

export function tokenTextLookup(model: Decoder, ids: Iterable<number>): (id: number) => string {
  let known = decoded.get(model);
  if (!known) decoded.set(model, (known = new Map()));
  const cache = known;
  const missing = [...new Set(ids)].filter((id) => !cache.has(id));
  if (missing.length > 0) model.toStrTokens(missing).forEach((text, i) => cache.set(missing[i], text));
  return (id) => {
    let text = cache.get(id);
    if (text === undefined) cache.set(id, (text = model.toStrTokens([id])[0]));
    return text;
  };
}
