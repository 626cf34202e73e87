// Helpers shared by the benchmarks that write random checkpoints and measure a process's memory.
import fs from "node:fs";

/**
 * `count` random finite BF16 values (little-endian bytes) with exponents 2^-8 … 2^(-8 + exponentSpread - 1) and
 * random sign and mantissa, from a xorshift generator (fast enough for a billion bytes; the same seed gives the
 * same bytes). exponentSpread must be a power of two.
 */
export function randomBf16(count: number, seed: number, exponentSpread = 8): Uint8Array {
  const out = new Uint16Array(count);
  const mask = exponentSpread - 1;
  let x = seed | 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const sign = (x >>> 31) << 15;
    const exponent = 119 + ((x >>> 7) & mask);
    out[i] = sign | (exponent << 7) | (x & 0x7f);
  }
  return new Uint8Array(out.buffer);
}

/** This process's peak resident set size (VmHWM), in bytes. */
export function peakRssBytes(): number {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return Number(line!.replace(/\D+/g, "")) * 1024;
}
