// Token ids from what users type: an id, or a string that must be exactly one token of the model's vocabulary.
import { ArgumentError } from "../errors";
import type { ProbeModel } from "./types";

/** A token given by its id or by a text that encodes to exactly one token (" Paris"). */
export type TokenSpec = number | string;

/** The id of one token: an integer id, or a text that encodes to exactly one token (e.g. " Paris"). */
export function resolveTokenId(model: Pick<ProbeModel, "tokenizer" | "config">, spec: TokenSpec, argument = "target"): number {
  const vocab = model.config.vocabSize;
  if (typeof spec === "number") {
    if (!Number.isInteger(spec) || spec < 0 || spec >= vocab) {
      throw new ArgumentError(argument, `is ${spec}, not a token id of this model (0 … ${vocab - 1})`);
    }
    return spec;
  }
  if (typeof spec !== "string" || spec.length === 0) {
    throw new ArgumentError(argument, `is ${JSON.stringify(spec)}`, 'pass a token id or the token\'s text, e.g. " Paris" (note the leading space)');
  }
  const ids = model.tokenizer.encode(spec, { addSpecialTokens: false });
  if (ids.length !== 1) {
    throw new ArgumentError(
      argument,
      `${JSON.stringify(spec)} is ${ids.length} tokens (${ids.join(", ")}), not one`,
      "pass a single token: its id, or the text of one token (a leading space is often part of it, as in \" Paris\")",
    );
  }
  return ids[0];
}

export function resolveTokenIds(model: Pick<ProbeModel, "tokenizer" | "config">, specs: TokenSpec | TokenSpec[] | undefined, argument = "targets"): number[] {
  if (specs === undefined) return [];
  return (Array.isArray(specs) ? specs : [specs]).map((s, i) => resolveTokenId(model, s, Array.isArray(specs) ? `${argument}[${i}]` : argument));
}

/** Validated positions of a sequence of length T: "all", "last", or explicit indices (negative counts from the end). */
export function resolvePositions(positions: number[] | "all" | "last" | undefined, T: number): number[] {
  if (positions === undefined || positions === "all") return Array.from({ length: T }, (_, i) => i);
  if (positions === "last") return [T - 1];
  if (!Array.isArray(positions) || positions.length === 0) {
    throw new ArgumentError("positions", `is ${JSON.stringify(positions)}`, 'use "all", "last" or a non-empty list of indices');
  }
  return positions.map((p) => {
    const q = p < 0 ? p + T : p;
    if (!Number.isInteger(q) || q < 0 || q >= T) throw new ArgumentError("positions", `holds ${p}, outside the ${T} positions`, `use indices in [${-T}, ${T - 1}]`);
    return q;
  });
}
