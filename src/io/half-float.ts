// Conversions between float32 and the two 16-bit float formats checkpoints are stored in.
// bfloat16 is the top half of a float32, so widening is a 16-bit shift. float16 has its own exponent
// range, so widening goes through a 65,536-entry table (built once, 256 KiB) that is exact for
// normals, subnormals, infinities and NaN payloads. Narrowing rounds to nearest, ties to even, as
// PyTorch's `.to(torch.float16/bfloat16)` does.
import os from "node:os";
import { LmprobeError } from "../errors";

// Typed-array views read the host's byte order and safetensors is little-endian.
if (os.endianness() !== "LE") {
  throw new LmprobeError("lmprobe reads safetensors only on little-endian hosts", "run on x86-64 or arm64");
}

let f16Table: Float32Array | null = null;

/** float32 value of every float16 bit pattern. */
function float16Table(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = h >>> 15;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) {
      // zero or subnormal: mantissa × 2^-24, exact in float32
      table[h] = (sign ? -1 : 1) * mantissa * 2 ** -24;
    } else if (exponent === 0x1f) {
      // infinity (mantissa 0) or NaN, payload kept
      bits[h] = (sign << 31) | 0x7f800000 | (mantissa << 13);
    } else {
      bits[h] = (sign << 31) | ((exponent - 15 + 127) << 23) | (mantissa << 13);
    }
  }
  f16Table = table;
  return table;
}

/** The float32 value of every float16 bit pattern, indexed by the pattern (shared; do not write to it). */
export function float16Values(): Float32Array {
  return float16Table();
}

/** float32 value of one float16 bit pattern (quantised blocks keep their scales as float16). */
export function halfBitsToFloat32(bits: number): number {
  return float16Table()[bits];
}

/** Widens `count` little-endian bfloat16 values from `src` (2-byte aligned) into `out` at `outOffset`. */
export function bfloat16ToFloat32(src: Uint16Array, out: Float32Array, outOffset = 0, count = src.length): void {
  const out32 = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, count);
  for (let i = 0; i < count; i++) out32[i] = src[i] << 16;
}

/** Widens `count` float16 values from `src` into `out` at `outOffset`. */
export function float16ToFloat32(src: Uint16Array, out: Float32Array, outOffset = 0, count = src.length): void {
  const table = float16Table();
  for (let i = 0; i < count; i++) out[outOffset + i] = table[src[i]];
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** bfloat16 bits of a number, rounded to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBfloat16Bits(value: number): number {
  scratch[0] = value;
  const x = scratchBits[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  const roundingBias = 0x7fff + ((x >>> 16) & 1);
  return ((x + roundingBias) >>> 16) & 0xffff;
}

/** float16 bits of a number, rounded to nearest even, with subnormals, overflow to infinity and NaN. */
export function float32ToFloat16Bits(value: number): number {
  scratch[0] = value;
  const x = scratchBits[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    let half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let h = sign | (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is still correct
  return h;
}
