// Choosing the next token from one row of logits: greedy (first maximum, as torch.argmax), or temperature and
// top-k sampling driven by a seeded generator so that a seed reproduces a generation.
import { ArgumentError } from "../errors";

/** mulberry32: small, fast and good enough for sampling; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** The two largest values of a row: [largest, second]. */
export function topTwo(row: ArrayLike<number>): [number, number] {
  let a = -Infinity;
  let b = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) b = v;
  }
  return [a, b];
}

export interface SamplingOptions {
  temperature?: number;
  topK?: number;
}

export function checkSampling(opts: SamplingOptions): void {
  if (opts.temperature !== undefined && !(opts.temperature >= 0 && Number.isFinite(opts.temperature))) {
    throw new ArgumentError("temperature", `is ${opts.temperature}`, "use 0 (greedy) or a positive number");
  }
  if (opts.topK !== undefined && !(Number.isInteger(opts.topK) && opts.topK > 0)) {
    throw new ArgumentError("topK", `is ${opts.topK}`, "use a positive integer");
  }
}

/** Next token of one row of logits. */
export function sampleToken(row: Float32Array, opts: SamplingOptions, random: () => number): number {
  const temperature = opts.temperature ?? 0;
  if (temperature === 0) return argmax(row);
  let candidates = Array.from(row.keys());
  if (opts.topK !== undefined && opts.topK < row.length) {
    candidates.sort((i, j) => row[j] - row[i] || i - j);
    candidates = candidates.slice(0, opts.topK);
  }
  const scaled = candidates.map((i) => row[i] / temperature);
  const max = Math.max(...scaled);
  const weights = scaled.map((s) => Math.exp(s - max));
  const total = weights.reduce((s, w) => s + w, 0);
  let r = random() * total;
  for (let i = 0; i < candidates.length; i++) {
    r -= weights[i];
    if (r <= 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}
