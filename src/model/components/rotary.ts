// Rotary position embeddings: inverse frequencies from the RoPE parameters (each variant of transformers'
// modeling_rope_utils.py, rounded to float32 step by step as the reference computes them in torch), the cos/sin
// tables of a run's positions, and their application to queries and keys.
import * as tf from "@tensorflow/tfjs-core";
import type { RopeParameters } from "../../io/config";
import type { RotarySettings } from "../canonical";
import { fusedRotaryHalf } from "../../backend/capabilities";

const f32 = Math.fround;

/** RotarySettings of one RoPE configuration for heads of `headDim`, in a model of `maxPositions` positions. */
export function rotaryFromParameters(params: RopeParameters, headDim: number, maxPositions: number): RotarySettings {
  const dim = Math.floor(headDim * params.partialRotaryFactor);
  const base = params.theta;
  const settings: RotarySettings = { rotaryDim: dim, invFreq: defaultInvFreq(base, dim), attentionScaling: 1, style: "half" };
  switch (params.ropeType) {
    case "default":
      return settings;
    case "linear":
      return { ...settings, invFreq: settings.invFreq.map((v) => f32(v / params.factor!)) };
    case "llama3":
      return { ...settings, invFreq: llama3InvFreq(settings.invFreq, params) };
    case "yarn":
      return { ...settings, ...yarn(params, dim, maxPositions) };
    case "dynamic": {
      const factor = params.factor!;
      const invFreqFor = (seqLen: number) => {
        // Recomputed only past the context; shorter inputs keep the original frequencies.
        if (seqLen <= maxPositions) return { invFreq: settings.invFreq, attentionScaling: 1 };
        const scaledBase = base * ((factor * seqLen) / maxPositions - (factor - 1)) ** (dim / (dim - 2));
        return { invFreq: defaultInvFreq(scaledBase, dim), attentionScaling: 1 };
      };
      return { ...settings, invFreqFor };
    }
    case "longrope":
      return { ...settings, ...longrope(params, dim, maxPositions) };
  }
}

/** 1 / base^(2i/dim), i < dim/2, in float32 steps. */
export function defaultInvFreq(base: number, dim: number): Float32Array {
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) out[i] = f32(1 / f32(Math.pow(base, f32((2 * i) / dim))));
  return out;
}

function llama3InvFreq(invFreq: Float32Array, p: RopeParameters): Float32Array {
  const factor = p.factor!;
  const low = p.lowFreqFactor!;
  const high = p.highFreqFactor!;
  const oldContext = p.originalMaxPositions!;
  const lowFreqWavelen = oldContext / low;
  const highFreqWavelen = oldContext / high;
  return invFreq.map((inv) => {
    const wavelen = f32(f32(2 * Math.PI) / inv);
    const llama = wavelen > lowFreqWavelen ? f32(inv / factor) : inv;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (!isMedium) return llama;
    const smooth = f32(f32(f32(oldContext / wavelen) - low) / (high - low));
    return f32(f32(f32(f32(1 - smooth) * llama) / factor) + f32(smooth * llama));
  });
}

function yarn(p: RopeParameters, dim: number, maxPositions: number): { invFreq: Float32Array; attentionScaling: number } {
  const base = p.theta;
  const originalMax = p.originalMaxPositions ?? maxPositions;
  const factor = p.factor ?? maxPositions / originalMax;
  const mscaleOf = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  let attentionScaling = p.attentionFactor;
  if (attentionScaling === null) {
    attentionScaling = p.mscale && p.mscaleAllDim ? mscaleOf(factor, p.mscale) / mscaleOf(factor, p.mscaleAllDim) : mscaleOf(factor);
  }
  const betaFast = p.betaFast || 32;
  const betaSlow = p.betaSlow || 1;
  const correctionDim = (rotations: number) => (dim * Math.log(originalMax / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (p.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // the reference's guard against a zero-width ramp
  const half = dim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const posFreq = f32(Math.pow(base, f32((2 * i) / dim)));
    const extrapolation = f32(1 / posFreq);
    const interpolation = f32(1 / f32(factor * posFreq));
    const ramp = Math.min(1, Math.max(0, f32(f32(i - low) / f32(high - low))));
    const extrapolationFactor = f32(1 - ramp);
    invFreq[i] = f32(f32(interpolation * f32(1 - extrapolationFactor)) + f32(extrapolation * extrapolationFactor));
  }
  return { invFreq, attentionScaling };
}

function longrope(p: RopeParameters, dim: number, maxPositions: number): Pick<RotarySettings, "invFreq" | "attentionScaling" | "invFreqFor"> {
  const originalMax = p.originalMaxPositions ?? maxPositions;
  const factor = p.factor ?? maxPositions / originalMax;
  const attentionScaling = p.attentionFactor ?? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMax)));
  const withFactors = (ext: number[]) => {
    const out = new Float32Array(dim / 2);
    for (let i = 0; i < dim / 2; i++) out[i] = f32(1 / f32(f32(ext[i]) * f32(Math.pow(p.theta, f32((2 * i) / dim)))));
    return out;
  };
  const short = withFactors(p.shortFactor!);
  const long = withFactors(p.longFactor!);
  // The reference switches to the long factors once the sequence outgrows the pre-training context.
  return { invFreq: short, attentionScaling, invFreqFor: (seqLen) => ({ invFreq: seqLen > originalMax ? long : short, attentionScaling }) };
}

export interface RotaryTables {
  /** [batch, pos, 1, rotaryDim]: cos of each frequency, repeated for both halves, times the attention scaling. */
  cos: tf.Tensor4D;
  /** [batch, pos, 1, rotaryDim]: sin likewise, negated on the first half (rotate_half's sign folded in). */
  sin: tf.Tensor4D;
}

/** cos/sin of one frequency set over positions 0 … length − 1, [length, rotaryDim / 2] row-major, in float32 steps. */
interface HostTable {
  length: number;
  cos: Float32Array;
  sin: Float32Array;
}

// Per frequency array (its identity: length-dependent variants return other arrays), the host table computed so
// far. Tables grow by doubling, so a run reuses them instead of computing cos/sin on the device every call; they
// are plain arrays, so holding them creates no tensors.
const hostTables = new WeakMap<Float32Array, Map<number, HostTable>>();

function hostTable(invFreq: Float32Array, attentionScaling: number, length: number): HostTable {
  let byScaling = hostTables.get(invFreq);
  if (!byScaling) hostTables.set(invFreq, (byScaling = new Map()));
  const cached = byScaling.get(attentionScaling);
  if (cached && cached.length >= length) return cached;
  const size = Math.max(length, 2 * (cached?.length ?? 32));
  const half = invFreq.length;
  const cos = new Float32Array(size * half);
  const sin = new Float32Array(size * half);
  for (let p = 0; p < size; p++) {
    for (let i = 0; i < half; i++) {
      // freqs = position · inv_freq in float32, as the reference's float32 outer product.
      const angle = f32(p * invFreq[i]);
      cos[p * half + i] = attentionScaling === 1 ? f32(Math.cos(angle)) : f32(f32(Math.cos(angle)) * attentionScaling);
      sin[p * half + i] = attentionScaling === 1 ? f32(Math.sin(angle)) : f32(f32(Math.sin(angle)) * attentionScaling);
    }
  }
  const table = { length: size, cos, sin };
  byScaling.set(attentionScaling, table);
  return table;
}

/**
 * cos/sin of positions [batch][pos] for one rotary setting; `seqLen` picks length-dependent frequencies. For the
 * "half" style each row holds [cos, cos] and [−sin, sin] so that rotation is x·cos + swap(x)·sin (see applyRotary);
 * for "interleaved" the halves are the plain cos and sin. Returns new tensors; the caller disposes them.
 */
export function rotaryTables(settings: RotarySettings, positions: readonly (readonly number[])[], seqLen: number): RotaryTables {
  const { invFreq, attentionScaling } = settings.invFreqFor ? settings.invFreqFor(seqLen) : settings;
  const batch = positions.length;
  const pos = positions[0].length;
  const half = invFreq.length;
  const longest = Math.max(...positions.map((row) => Math.max(...row)));
  const table = hostTable(invFreq, attentionScaling, longest + 1);
  const interleaved = settings.style === "interleaved";
  const width = interleaved ? half : 2 * half;
  const cos = new Float32Array(batch * pos * width);
  const sin = new Float32Array(batch * pos * width);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < pos; t++) {
      const from = positions[b][t] * half;
      const to = (b * pos + t) * width;
      const c = table.cos.subarray(from, from + half);
      const s = table.sin.subarray(from, from + half);
      cos.set(c, to);
      if (interleaved) {
        sin.set(s, to);
        continue;
      }
      cos.set(c, to + half);
      for (let i = 0; i < half; i++) sin[to + i] = -s[i];
      sin.set(s, to + half);
    }
  }
  return { cos: tf.tensor4d(cos, [batch, pos, 1, width]), sin: tf.tensor4d(sin, [batch, pos, 1, width]) };
}

/**
 * Rotates the first rotaryDim features of each head of x [batch, pos, heads, dHead]. "half": the reference's
 * x·cos + rotate_half(x)·sin with rotate_half(x) = [−x₂, x₁]; the sign lives in the table, so this computes
 * [x₁, x₂]·[cos, cos] + [x₂, x₁]·[−sin, sin], the same products and sums.
 */
export function applyRotary(x: tf.Tensor4D, tables: RotaryTables, settings: RotarySettings): tf.Tensor4D {
  // webgpu: the "half" rotation in one pass (backend/kernels/row-programs.ts), the same products and sums.
  if (settings.style === "half") {
    const fused = fusedRotaryHalf(x, tables.cos, tables.sin, settings.rotaryDim);
    if (fused) return fused;
  }
  return tf.tidy(() => {
    const dHead = x.shape[3];
    const rot = settings.rotaryDim;
    const half = rot / 2;
    const xRot = rot === dHead ? x : x.slice([0, 0, 0, 0], [-1, -1, -1, rot]);
    let rotated: tf.Tensor;
    if (settings.style === "half") {
      const swapped = tf.concat([xRot.slice([0, 0, 0, half], [-1, -1, -1, half]), xRot.slice([0, 0, 0, 0], [-1, -1, -1, half])], 3);
      rotated = tf.add(tf.mul(xRot, tables.cos), tf.mul(swapped, tables.sin));
    } else {
      const [b, t, h] = x.shape;
      const pairs = xRot.reshape([b, t, h, half, 2]);
      const even = pairs.slice([0, 0, 0, 0, 0], [-1, -1, -1, -1, 1]).reshape([b, t, h, half]);
      const odd = pairs.slice([0, 0, 0, 0, 1], [-1, -1, -1, -1, 1]).reshape([b, t, h, half]);
      const outEven = tf.sub(tf.mul(even, tables.cos), tf.mul(odd, tables.sin));
      const outOdd = tf.add(tf.mul(odd, tables.cos), tf.mul(even, tables.sin));
      rotated = tf.stack([outEven, outOdd], 4).reshape([b, t, h, rot]);
    }
    if (rot === dHead) return rotated as tf.Tensor4D;
    return tf.concat([rotated, x.slice([0, 0, 0, rot], [-1, -1, -1, dHead - rot])], 3) as tf.Tensor4D;
  });
}
