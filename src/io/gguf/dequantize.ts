// ggml's block formats → float32, following ggml-quants.c's dequantize_row_* functions for the layouts of
// ggml-common.h. Each block holds float16 scale(s) and packed integer codes; a weight is code × scale (+ min).
// Every intermediate product below is exact in float32 (a float16 scale has 11 significant bits, codes at
// most 8), so writing the double-precision result into a Float32Array rounds once, where C rounds once too:
// the values are bit-identical to ggml's.
import { bfloat16ToFloat32, float16ToFloat32, halfBitsToFloat32 } from "../half-float";
import type { GgmlType } from "./ggml-types";

type Dequantizer = (src: Uint8Array, out: Float32Array, blocks: number) => void;

function half(src: Uint8Array, at: number): number {
  return halfBitsToFloat32(src[at] | (src[at + 1] << 8));
}

/** int8 view of a byte. */
function i8(byte: number): number {
  return (byte << 24) >> 24;
}

function q4_0(src: Uint8Array, out: Float32Array, blocks: number): void {
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 18, y += 32) {
    const d = half(src, o);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = ((q & 0x0f) - 8) * d;
      out[y + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

function q4_1(src: Uint8Array, out: Float32Array, blocks: number): void {
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 20, y += 32) {
    const d = half(src, o);
    const m = half(src, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j];
      out[y + j] = (q & 0x0f) * d + m;
      out[y + j + 16] = (q >> 4) * d + m;
    }
  }
}

/** Q5_0 / Q5_1: 4 low bits in qs, the fifth bit of value j in bit j of the 32-bit qh (values 16..31: bits 16..31). */
function q5(withMin: boolean): Dequantizer {
  const size = withMin ? 24 : 22;
  const qhAt = withMin ? 4 : 2;
  return (src, out, blocks) => {
    for (let b = 0, o = 0, y = 0; b < blocks; b++, o += size, y += 32) {
      const d = half(src, o);
      const m = withMin ? half(src, o + 2) : 0;
      const qh = (src[o + qhAt] | (src[o + qhAt + 1] << 8) | (src[o + qhAt + 2] << 16) | (src[o + qhAt + 3] << 24)) >>> 0;
      const qs = o + qhAt + 4;
      for (let j = 0; j < 16; j++) {
        const high0 = ((qh >>> j) << 4) & 0x10;
        const high1 = (qh >>> (j + 12)) & 0x10;
        const x0 = (src[qs + j] & 0x0f) | high0;
        const x1 = (src[qs + j] >> 4) | high1;
        if (withMin) {
          out[y + j] = x0 * d + m;
          out[y + j + 16] = x1 * d + m;
        } else {
          out[y + j] = (x0 - 16) * d;
          out[y + j + 16] = (x1 - 16) * d;
        }
      }
    }
  };
}

function q8_0(src: Uint8Array, out: Float32Array, blocks: number): void {
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 34, y += 32) {
    const d = half(src, o);
    for (let j = 0; j < 32; j++) out[y + j] = i8(src[o + 2 + j]) * d;
  }
}

function q2_K(src: Uint8Array, out: Float32Array, blocks: number): void {
  // scales[16] qs[64] d dmin
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 84) {
    const d = half(src, o + 80);
    const min = half(src, o + 82);
    let q = o + 16;
    let is = 0;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half16 = 0; half16 < 2; half16++) {
          const sc = src[o + is++];
          const dl = d * (sc & 0x0f);
          const ml = min * (sc >> 4);
          for (let l = 0; l < 16; l++) out[y++] = dl * ((src[q + l + 16 * half16] >> shift) & 3) - ml;
        }
      }
      q += 32;
    }
  }
}

/** Q3_K's sixteen 6-bit scales, unpacked from 12 bytes as ggml's kmask shuffle does. */
function q3kScales(src: Uint8Array, at: number, scales: Int8Array): void {
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? src[at + j] & 0x0f : src[at + j - 8] >> 4;
    const high = (src[at + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3;
    scales[j] = (low | (high << 4)) - 32;
  }
}

function q3_K(src: Uint8Array, out: Float32Array, blocks: number): void {
  // hmask[32] qs[64] scales[12] d
  const scales = new Int8Array(16);
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 110) {
    const dAll = half(src, o + 108);
    q3kScales(src, o + 96, scales);
    let q = o + 32;
    let is = 0;
    let m = 1;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half16 = 0; half16 < 2; half16++) {
          const dl = dAll * scales[is++];
          for (let l = 0; l < 16; l++) {
            const k = l + 16 * half16;
            const low = (src[q + k] >> shift) & 3;
            out[y++] = dl * (low - (src[o + k] & m ? 0 : 4));
          }
        }
        m <<= 1;
      }
      q += 32;
    }
  }
}

/** The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, as ggml's get_scale_min_k4. */
function scaleMinK4(src: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [src[at + j] & 63, src[at + j + 4] & 63];
  return [(src[at + j + 4] & 0x0f) | ((src[at + j - 4] >> 6) << 4), (src[at + j + 4] >> 4) | ((src[at + j] >> 6) << 4)];
}

function q4_K(src: Uint8Array, out: Float32Array, blocks: number): void {
  // d dmin scales[12] qs[128]
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 144) {
    const d = half(src, o);
    const min = half(src, o + 2);
    let q = o + 16;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1] = scaleMinK4(src, o + 4, is);
      const [sc2, m2] = scaleMinK4(src, o + 4, is + 1);
      const d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
      for (let l = 0; l < 32; l++) out[y++] = d1 * (src[q + l] & 0x0f) - min1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * (src[q + l] >> 4) - min2;
      q += 32;
    }
  }
}

function q5_K(src: Uint8Array, out: Float32Array, blocks: number): void {
  // d dmin scales[12] qh[32] qs[128]
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 176) {
    const d = half(src, o);
    const min = half(src, o + 2);
    const qh = o + 16;
    let ql = o + 48;
    let u1 = 1, u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1] = scaleMinK4(src, o + 4, is);
      const [sc2, m2] = scaleMinK4(src, o + 4, is + 1);
      const d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
      for (let l = 0; l < 32; l++) out[y++] = d1 * ((src[ql + l] & 0x0f) + (src[qh + l] & u1 ? 16 : 0)) - min1;
      for (let l = 0; l < 32; l++) out[y++] = d2 * ((src[ql + l] >> 4) + (src[qh + l] & u2 ? 16 : 0)) - min2;
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

function q6_K(src: Uint8Array, out: Float32Array, blocks: number): void {
  // ql[128] qh[64] scales[16] (int8) d
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 210) {
    const d = half(src, o + 208);
    let ql = o, qh = o + 128, sc = o + 192;
    for (let n = 0; n < 256; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l];
        const q1 = ((src[ql + l] & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = d * i8(src[sc + is]) * q1;
        out[y + l + 32] = d * i8(src[sc + is + 2]) * q2;
        out[y + l + 64] = d * i8(src[sc + is + 4]) * q3;
        out[y + l + 96] = d * i8(src[sc + is + 6]) * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

/** e2m1 code → value ×2 (ggml's kvalues_mxfp4; the matching scale is halved). */
export const MXFP4_VALUES_X2 = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/** 2^(e − 127) for an e8m0 byte, halved to pair with MXFP4_VALUES_X2 (ggml's GGML_E8M0_TO_FP32_HALF). */
export function e8m0Half(e: number): number {
  return 2 ** (e - 128);
}

function mxfp4(src: Uint8Array, out: Float32Array, blocks: number): void {
  // e qs[16]
  for (let b = 0, o = 0, y = 0; b < blocks; b++, o += 17, y += 32) {
    const d = e8m0Half(src[o]);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 1 + j];
      out[y + j] = MXFP4_VALUES_X2[q & 0x0f] * d;
      out[y + j + 16] = MXFP4_VALUES_X2[q >> 4] * d;
    }
  }
}

function f32(src: Uint8Array, out: Float32Array, count: number): void {
  new Uint8Array(out.buffer, out.byteOffset, count * 4).set(src.subarray(0, count * 4));
}

function view16(src: Uint8Array, count: number): Uint16Array {
  // Tensor data is 32-byte aligned in a GGUF, but a copy keeps this independent of where `src` came from.
  return src.byteOffset % 2 === 0 ? new Uint16Array(src.buffer, src.byteOffset, count) : new Uint16Array(src.slice(0, count * 2).buffer);
}

const DEQUANTIZERS: Record<string, Dequantizer> = {
  F32: f32,
  F16: (src, out, n) => float16ToFloat32(view16(src, n), out),
  BF16: (src, out, n) => bfloat16ToFloat32(view16(src, n), out),
  Q4_0: q4_0,
  Q4_1: q4_1,
  Q5_0: q5(false),
  Q5_1: q5(true),
  Q8_0: q8_0,
  Q2_K: q2_K,
  Q3_K: q3_K,
  Q4_K: q4_K,
  Q5_K: q5_K,
  Q6_K: q6_K,
  MXFP4: mxfp4,
};

/** The ggml type names lmprobe can dequantise. */
export const READABLE_GGML_TYPES = Object.keys(DEQUANTIZERS);

export function canDequantize(type: GgmlType): boolean {
  return type.name in DEQUANTIZERS;
}

/** Dequantises `elements` values of `type` from `src` into a new Float32Array (or into `out`). */
export function dequantize(type: GgmlType, src: Uint8Array, elements: number, out = new Float32Array(elements)): Float32Array {
  const run = DEQUANTIZERS[type.name];
  if (!run) throw new Error(`no dequantiser for ${type.name}`);
  run(src, out, elements / type.blockSize);
  return out;
}
