// Rotary position embeddings: inverse frequencies from the RoPE parameters (each variant of transformers'
// modeling_rope_utils.py, rounded to float32 step by step as the reference computes them in torch), the cos/sin
// tables of a run's positions, and their application to queries and keys.
import * as tf from "@tensorflow/tfjs-core";
import type { RopeParameters } from "../../io/config";
import type { RotarySettings } from "../canonical";

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
  /** [batch, pos, 1, rotaryDim / 2], already multiplied by the attention scaling. */
  cos: tf.Tensor4D;
  sin: tf.Tensor4D;
}

/** cos/sin of positions [batch, pos] (float32) for one rotary setting; `seqLen` picks length-dependent frequencies. */
export function rotaryTables(settings: RotarySettings, positions: tf.Tensor2D, seqLen: number): RotaryTables {
  return tf.tidy(() => {
    const { invFreq, attentionScaling } = settings.invFreqFor ? settings.invFreqFor(seqLen) : settings;
    const [b, t] = positions.shape;
    const freqs = tf.mul(positions.reshape([b, t, 1, 1]), tf.tensor(invFreq, [1, 1, 1, invFreq.length]));
    let cos = tf.cos(freqs);
    let sin = tf.sin(freqs);
    if (attentionScaling !== 1) {
      cos = tf.mul(cos, attentionScaling);
      sin = tf.mul(sin, attentionScaling);
    }
    return { cos: cos as tf.Tensor4D, sin: sin as tf.Tensor4D };
  });
}

/** Rotates the first rotaryDim features of each head of x [batch, pos, heads, dHead]. */
export function applyRotary(x: tf.Tensor4D, tables: RotaryTables, settings: RotarySettings): tf.Tensor4D {
  return tf.tidy(() => {
    const dHead = x.shape[3];
    const rot = settings.rotaryDim;
    const half = rot / 2;
    const xRot = rot === dHead ? x : x.slice([0, 0, 0, 0], [-1, -1, -1, rot]);
    let rotated: tf.Tensor;
    if (settings.style === "half") {
      const x1 = xRot.slice([0, 0, 0, 0], [-1, -1, -1, half]);
      const x2 = xRot.slice([0, 0, 0, half], [-1, -1, -1, half]);
      const out1 = tf.sub(tf.mul(x1, tables.cos), tf.mul(x2, tables.sin));
      const out2 = tf.add(tf.mul(x2, tables.cos), tf.mul(x1, tables.sin));
      rotated = tf.concat([out1, out2], 3);
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
