// Seeded standard normal samples (Box–Muller over the engine's mulberry32 generator): the same seed gives the
// same noise on every backend, since the draw happens on the host.
import { seededRandom } from "../model/sampling";

export function gaussianNoise(count: number, seed: number, std = 1): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    // 1 − u keeps the logarithm's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const theta = 2 * Math.PI * random();
    out[i] = std * r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = std * r * Math.sin(theta);
  }
  return out;
}
