// Readable texts of many token ids, decoded once per distinct id.
import type { ProbeModel } from "./types";

export function tokenTextLookup(model: Pick<ProbeModel, "toStrTokens">, ids: Iterable<number>): (id: number) => string {
  const unique = [...new Set(ids)];
  const texts = unique.length > 0 ? model.toStrTokens(unique) : [];
  const map = new Map(unique.map((id, i) => [id, texts[i]]));
  return (id) => map.get(id) ?? model.toStrTokens([id])[0];
}
