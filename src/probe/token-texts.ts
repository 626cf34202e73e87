// Readable texts of many token ids, decoded once per distinct id and model: a probe's tables name thousands of
// top tokens, mostly the same ids from one call to the next, and decoding one id costs microseconds.
import type { ProbeModel } from "./types";

type Decoder = Pick<ProbeModel, "toStrTokens">;
const decoded = new WeakMap<Decoder, Map<number, string>>();

/**
 * A lookup of the texts of `ids` (any number of lists), decoding in one call the ids this model has not seen yet.
 * In steady use every id is known: the lists are only scanned (a logit lens over 640 rows names ~3300 ids; gathering
 * them into one array and a Set first took ~0.5 ms a probe on the demo model).
 */
export function tokenTextLookup(model: Decoder, ...ids: ArrayLike<number>[]): (id: number) => string {
  let known = decoded.get(model);
  if (!known) decoded.set(model, (known = new Map()));
  const cache = known;
  let missing: Set<number> | null = null;
  for (const list of ids) {
    for (let i = 0; i < list.length; i++) {
      if (!cache.has(list[i])) (missing ??= new Set()).add(list[i]);
    }
  }
  if (missing) {
    const order = [...missing];
    model.toStrTokens(order).forEach((text, i) => cache.set(order[i], text));
  }
  return (id) => {
    let text = cache.get(id);
    if (text === undefined) cache.set(id, (text = model.toStrTokens([id])[0]));
    return text;
  };
}
