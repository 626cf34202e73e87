// Test-side quantisers: float32 → ggml blocks in the layouts of ggml-common.h, so that tests can write GGUF
// files of every supported type. They choose scales simply (range / levels, rounded to float16) rather than
// with ggml's error-minimising search; any valid block is a fair input for the dequantiser and for llama.cpp.
// Written independently of src/io/gguf/dequantize.ts: the round trip checks one against the other, and
// llama.cpp's logits on the same file check both against ggml.
import { float32ToFloat16Bits, halfBitsToFloat32 } from "../../src/io/half-float";

function f16(x: number): number {
  return halfBitsToFloat32(float32ToFloat16Bits(x));
}
function putHalf(out: Uint8Array, at: number, x: number): number {
  const bits = float32ToFloat16Bits(x);
  out[at] = bits & 0xff;
  out[at + 1] = bits >> 8;
  return halfBitsToFloat32(bits);
}
const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** Symmetric block: d = (value of largest magnitude) / -half, codes round(x/d) + half (ggml's Q4_0/Q5_0 rule). */
function symmetric32(x: Float32Array, half: number): { d: number; codes: number[] } {
  let max = 0;
  for (const v of x) if (Math.abs(v) > Math.abs(max)) max = v;
  const d = f16(max / -half);
  const codes = Array.from(x, (v) => (d === 0 ? half : clamp(Math.round(v / d) + half, 0, 2 * half - 1)));
  return { d, codes };
}

function minMax(x: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < x.length; i++) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); }
  return [lo, hi];
}

function blocks(x: Float32Array, size: number, bytes: number, fill: (block: Float32Array, out: Uint8Array) => void): Uint8Array {
  if (x.length % size !== 0) throw new Error(`${x.length} values are not whole blocks of ${size}`);
  const out = new Uint8Array((x.length / size) * bytes);
  for (let b = 0; b < x.length / size; b++) fill(x.subarray(b * size, (b + 1) * size), out.subarray(b * bytes, (b + 1) * bytes));
  return out;
}

const QUANTIZERS: Record<string, (x: Float32Array) => Uint8Array> = {
  F32: (x) => new Uint8Array(x.slice().buffer),
  F16: (x) => { const o = new Uint16Array(x.length); x.forEach((v, i) => (o[i] = float32ToFloat16Bits(v))); return new Uint8Array(o.buffer); },
  BF16: (x) => { const bits = new Uint32Array(x.slice().buffer); const o = new Uint16Array(x.length); bits.forEach((b, i) => (o[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16)); return new Uint8Array(o.buffer); },
  Q8_0: (x) => blocks(x, 32, 34, (v, o) => {
    const [lo, hi] = minMax(v);
    const d = putHalf(o, 0, Math.max(-lo, hi) / 127);
    v.forEach((x1, j) => (o[2 + j] = (d === 0 ? 0 : clamp(Math.round(x1 / d), -127, 127)) & 0xff));
  }),
  Q4_0: (x) => blocks(x, 32, 18, (v, o) => {
    const { d, codes } = symmetric32(v, 8);
    putHalf(o, 0, d);
    for (let j = 0; j < 16; j++) o[2 + j] = codes[j] | (codes[j + 16] << 4);
  }),
  Q5_0: (x) => blocks(x, 32, 22, (v, o) => {
    const { d, codes } = symmetric32(v, 16);
    putHalf(o, 0, d);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      o[6 + j] = (codes[j] & 0x0f) | ((codes[j + 16] & 0x0f) << 4);
      qh |= ((codes[j] >> 4) << j) | ((codes[j + 16] >> 4) << (j + 16));
    }
    new DataView(o.buffer, o.byteOffset).setUint32(2, qh >>> 0, true);
  }),
  Q4_1: (x) => blocks(x, 32, 20, (v, o) => asymmetric32(v, o, 15)),
  Q5_1: (x) => blocks(x, 32, 24, (v, o) => asymmetric32(v, o, 31)),
  Q4_K: (x) => blocks(x, 256, 144, (v, o) => kQuant(v, o, 15)),
  Q5_K: (x) => blocks(x, 256, 176, (v, o) => kQuant(v, o, 31)),
  Q6_K: (x) => blocks(x, 256, 210, q6k),
  Q2_K: (x) => blocks(x, 256, 84, q2k),
  Q3_K: (x) => blocks(x, 256, 110, q3k),
};

/** Q4_1 / Q5_1: d = (max − min) / levels, m = min. */
function asymmetric32(v: Float32Array, o: Uint8Array, levels: number): void {
  const [lo, hi] = minMax(v);
  const d = putHalf(o, 0, (hi - lo) / levels);
  const m = putHalf(o, 2, lo);
  const codes = Array.from(v, (x) => (d === 0 ? 0 : clamp(Math.round((x - m) / d), 0, levels)));
  if (levels === 15) {
    for (let j = 0; j < 16; j++) o[4 + j] = codes[j] | (codes[j + 16] << 4);
    return;
  }
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    o[8 + j] = (codes[j] & 0x0f) | ((codes[j + 16] & 0x0f) << 4);
    qh |= ((codes[j] >> 4) << j) | ((codes[j + 16] >> 4) << (j + 16));
  }
  new DataView(o.buffer, o.byteOffset).setUint32(4, qh >>> 0, true);
}

/** Q4_K / Q5_K: eight sub-blocks of 32, each x ≈ d·sc·q − dmin·m with 6-bit sc and m. */
function kQuant(v: Float32Array, o: Uint8Array, levels: number): void {
  const scales: number[] = [], mins: number[] = [];
  for (let j = 0; j < 8; j++) {
    const [lo, hi] = minMax(v.subarray(32 * j, 32 * j + 32));
    const min = Math.min(lo, 0);
    scales.push((hi - min) / levels);
    mins.push(-min);
  }
  const d = putHalf(o, 0, Math.max(...scales) / 63);
  const dmin = putHalf(o, 2, Math.max(...mins) / 63);
  const sc = scales.map((s) => (d === 0 ? 0 : clamp(Math.ceil(s / d), 0, 63)));
  const m = mins.map((s) => (dmin === 0 ? 0 : clamp(Math.round(s / dmin), 0, 63)));
  for (let j = 0; j < 8; j++) {
    if (j < 4) { o[4 + j] = sc[j]; o[4 + j + 4] = m[j]; }
    else {
      o[4 + j + 4] = (sc[j] & 0x0f) | ((m[j] & 0x0f) << 4);
      o[4 + j - 4] |= (sc[j] >> 4) << 6;
      o[4 + j] |= (m[j] >> 4) << 6;
    }
  }
  const L = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    const j = i >> 5;
    const step = d * sc[j];
    L[i] = step === 0 ? 0 : clamp(Math.round((v[i] + dmin * m[j]) / step), 0, levels);
  }
  if (levels === 15) {
    for (let n = 0, q = 16; n < 256; n += 64, q += 32) for (let l = 0; l < 32; l++) o[q + l] = L[n + l] | (L[n + l + 32] << 4);
    return;
  }
  let m1 = 1, m2 = 2;
  for (let n = 0, q = 48; n < 256; n += 64, q += 32) {
    for (let l = 0; l < 32; l++) {
      let a = L[n + l], b = L[n + l + 32];
      if (a > 15) { a -= 16; o[16 + l] |= m1; }
      if (b > 15) { b -= 16; o[16 + l] |= m2; }
      o[q + l] = a | (b << 4);
    }
    m1 <<= 2; m2 <<= 2;
  }
}

/** Sixteen symmetric sub-blocks of 16 with signed int8 scales: Q6_K. */
function q6k(v: Float32Array, o: Uint8Array): void {
  const sub: number[] = [];
  for (let j = 0; j < 16; j++) { let max = 0; for (const x of v.subarray(16 * j, 16 * j + 16)) if (Math.abs(x) > Math.abs(max)) max = x; sub.push(max / -32); }
  let maxScale = 0;
  for (const s of sub) if (Math.abs(s) > Math.abs(maxScale)) maxScale = s;
  const d = putHalf(o, 208, maxScale / -127);
  const sc = sub.map((s) => (d === 0 ? 0 : clamp(Math.round(s / d), -127, 127)));
  sc.forEach((s, j) => (o[192 + j] = s & 0xff));
  const L = new Uint8Array(256);
  for (let i = 0; i < 256; i++) { const step = d * sc[i >> 4]; L[i] = (step === 0 ? 0 : clamp(Math.round(v[i] / step), -32, 31)) + 32; }
  for (let n = 0, ql = 0, qh = 128; n < 256; n += 128, ql += 64, qh += 32) {
    for (let l = 0; l < 32; l++) {
      o[ql + l] = (L[n + l] & 0xf) | ((L[n + l + 64] & 0xf) << 4);
      o[ql + l + 32] = (L[n + l + 32] & 0xf) | ((L[n + l + 96] & 0xf) << 4);
      o[qh + l] = (L[n + l] >> 4) | ((L[n + l + 32] >> 4) << 2) | ((L[n + l + 64] >> 4) << 4) | ((L[n + l + 96] >> 4) << 6);
    }
  }
}

function pack2bit(L: Uint8Array, o: Uint8Array, at: number): void {
  for (let n = 0; n < 256; n += 128) for (let l = 0; l < 32; l++) o[at + n / 4 + l] = L[n + l] | (L[n + l + 32] << 2) | (L[n + l + 64] << 4) | (L[n + l + 96] << 6);
}

/** Q2_K: sixteen sub-blocks of 16, x ≈ d·sc·q − dmin·m with 4-bit sc, m and 2-bit q. */
function q2k(v: Float32Array, o: Uint8Array): void {
  const scales: number[] = [], mins: number[] = [];
  for (let j = 0; j < 16; j++) { const [lo, hi] = minMax(v.subarray(16 * j, 16 * j + 16)); const min = Math.min(lo, 0); scales.push((hi - min) / 3); mins.push(-min); }
  const d = putHalf(o, 80, Math.max(...scales) / 15);
  const dmin = putHalf(o, 82, Math.max(...mins) / 15);
  const sc = scales.map((s) => (d === 0 ? 0 : clamp(Math.ceil(s / d), 0, 15)));
  const m = mins.map((s) => (dmin === 0 ? 0 : clamp(Math.round(s / dmin), 0, 15)));
  for (let j = 0; j < 16; j++) o[j] = sc[j] | (m[j] << 4);
  const L = new Uint8Array(256);
  for (let i = 0; i < 256; i++) { const step = d * sc[i >> 4]; L[i] = step === 0 ? 0 : clamp(Math.round((v[i] + dmin * m[i >> 4]) / step), 0, 3); }
  pack2bit(L, o, 16);
}

/** Q3_K: sixteen symmetric sub-blocks of 16, 6-bit signed scales, 3-bit q (2 low bits + a high-bit mask). */
function q3k(v: Float32Array, o: Uint8Array): void {
  const sub: number[] = [];
  for (let j = 0; j < 16; j++) { let max = 0; for (const x of v.subarray(16 * j, 16 * j + 16)) if (Math.abs(x) > Math.abs(max)) max = x; sub.push(max / -4); }
  let maxScale = 0;
  for (const s of sub) if (Math.abs(s) > Math.abs(maxScale)) maxScale = s;
  const d = putHalf(o, 108, maxScale / -32);
  const sc = sub.map((s) => (d === 0 ? 0 : clamp(Math.round(s / d), -32, 31)));
  for (let j = 0; j < 16; j++) {
    const l = sc[j] + 32;
    if (j < 8) o[96 + j] |= l & 0xf; else o[96 + j - 8] |= (l & 0xf) << 4;
    o[96 + 8 + (j % 4)] |= (l >> 4) << (2 * Math.floor(j / 4));
  }
  const L = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    const step = d * sc[i >> 4];
    const q = (step === 0 ? 0 : clamp(Math.round(v[i] / step), -4, 3)) + 4;
    if (q > 3) o[i % 32] |= 1 << Math.floor(i / 32);
    L[i] = q & 3;
  }
  pack2bit(L, o, 32);
}

/** ggml's MXFP4 block: e8m0 exponent byte, then 16 bytes of e2m1 codes (element j low nibble, j + 16 high). */
function mxfp4(v: Float32Array, o: Uint8Array): void {
  const values = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]; // ×2, paired with a halved scale
  const [lo, hi] = minMax(v);
  const amax = Math.max(-lo, hi, 2 ** -120);
  const e = clamp(Math.ceil(Math.log2(amax / 12)) + 128, 1, 254);
  const d = 2 ** (e - 128);
  o[0] = e;
  const code = (x: number) => {
    let best = 0;
    for (let c = 1; c < 16; c++) if (Math.abs(x / d - values[c]) < Math.abs(x / d - values[best])) best = c;
    return best;
  };
  for (let j = 0; j < 16; j++) o[1 + j] = code(v[j]) | (code(v[j + 16]) << 4);
}
QUANTIZERS.MXFP4 = (x) => blocks(x, 32, 17, mxfp4);

export const QUANTISABLE_TYPES = Object.keys(QUANTIZERS);

export function quantize(type: string, values: Float32Array): Uint8Array {
  const run = QUANTIZERS[type];
  if (!run) throw new Error(`no test quantiser for ${type}`);
  return run(values);
}
