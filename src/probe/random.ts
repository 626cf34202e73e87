// Seeded draws so that default prompts and random-head draws reproduce (the generator is the one sampling uses).
export { seededRandom } from "../model/sampling";

/** k distinct items of `items`, in random order. */
export function sampleDistinct<T>(items: readonly T[], k: number, random: () => number): T[] {
  const pool = [...items];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, k);
}
