// A float64 forward pass in plain JavaScript over a canonical model's weights, one sequence, for the gradient tests:
// central finite differences of a metric need a function whose rounding error (~1e-16) is far below the step's
// effect, which the float32 engine cannot give. It adds `deltas` at hook points (as the gradient cache does) and
// covers the dense families of the demo model and the tiny GPT-2/Llama fixtures: pre/post norms, rotary ("half"),
// grouped key/value heads, gated and plain MLPs, learned positions, tied or separate unembedding. It throws on
// anything else (q/k norms, sinks, sliding windows, MoE) rather than compute something else.
import type { CanonicalModel, NormWeights } from "../../src/model/canonical";
import type * as tf from "@tensorflow/tfjs-core";

type Vec = Float64Array;
const f64 = (t: tf.Tensor | null): Vec | null => (t ? Float64Array.from(t.dataSync()) : null);

/** Weights read once as float64 arrays (the canonical tensors are float32; each value is exact in float64). */
export class Float64Model {
  private readonly cache = new Map<tf.Tensor, Vec>();
  constructor(readonly m: CanonicalModel) {}
  w(t: tf.Tensor): Vec {
    if (!this.cache.has(t)) this.cache.set(t, f64(t)!);
    return this.cache.get(t)!;
  }

  /**
   * Logits [T, vocab] of one sequence, with deltas (flat, shaped as the hook's activation for batch 1) added; with
   * `lastOnly` only the last position's row is filled (the others stay zero; the unembedding dominates the cost).
   */
  forward(ids: number[], deltas: Map<string, Vec> = new Map(), lastOnly = false): Vec {
    const m = this.m;
    const T = ids.length;
    const d = m.dModel;
    const add = (name: string, x: Vec) => {
      const delta = deltas.get(name);
      if (delta) for (let i = 0; i < x.length; i++) x[i] += delta[i];
      return x;
    };
    const WE = this.w(m.embed.W_E);
    let x = new Float64Array(T * d);
    ids.forEach((id, t) => x.set(WE.subarray(id * d, (id + 1) * d), t * d));
    add("hook_embed", x);
    if (m.embed.scale !== null) x = x.map((v) => v * m.embed.scale!);
    if (m.posEmbed) {
      const P = this.w(m.posEmbed.W_pos);
      const pe = new Float64Array(T * d);
      for (let t = 0; t < T; t++) pe.set(P.subarray(t * d, (t + 1) * d), t * d);
      add("hook_pos_embed", pe);
      x = x.map((v, i) => v + pe[i]);
    }
    m.blocks.forEach((b, l) => {
      const p = `blocks.${l}.`;
      const resid = add(p + "hook_resid_pre", x);
      const attnIn = b.ln1 ? this.norm(resid, T, b.ln1) : resid;
      const attnOut = add(p + "hook_attn_out", this.maybeNorm(this.attention(l, attnIn, T, deltas), T, b.postAttnNorm));
      if (b.parallel) {
        const mlpOut = add(p + "hook_mlp_out", this.maybeNorm(this.mlp(l, b.ln2 ? this.norm(resid, T, b.ln2) : resid, T, deltas), T, b.postMlpNorm));
        x = add(p + "hook_resid_post", resid.map((v, i) => mlpOut[i] + attnOut[i] + v));
        return;
      }
      const mid = add(p + "hook_resid_mid", resid.map((v, i) => v + attnOut[i]));
      const mlpOut = add(p + "hook_mlp_out", this.maybeNorm(this.mlp(l, b.ln2 ? this.norm(mid, T, b.ln2) : mid, T, deltas), T, b.postMlpNorm));
      x = add(p + "hook_resid_post", mid.map((v, i) => v + mlpOut[i]));
    });
    const normed = m.lnFinal ? add("ln_final.hook_normalized", this.norm(x, T, m.lnFinal)) : x;
    const V = m.vocabSize;
    const logits = new Float64Array(T * V);
    const WU = m.unembed.W_U ? this.w(m.unembed.W_U) : null;
    const bU = m.unembed.b_U ? this.w(m.unembed.b_U) : null;
    for (let t = lastOnly ? T - 1 : 0; t < T; t++) {
      for (let v = 0; v < V; v++) {
        let s = bU ? bU[v] : 0;
        for (let i = 0; i < d; i++) s += normed[t * d + i] * (WU ? WU[i * V + v] : WE[v * d + i]);
        if (m.unembed.softcap !== null) s = Math.tanh(s / m.unembed.softcap) * m.unembed.softcap;
        logits[t * V + v] = s;
      }
    }
    return logits;
  }

  private maybeNorm(x: Vec, T: number, n: NormWeights | null): Vec {
    return n ? this.norm(x, T, n) : x;
  }

  private norm(x: Vec, T: number, n: NormWeights): Vec {
    const d = x.length / T;
    const w = n.weight ? this.w(n.weight) : null;
    const bias = n.bias ? this.w(n.bias) : null;
    const out = new Float64Array(x.length);
    for (let t = 0; t < T; t++) {
      const row = x.subarray(t * d, (t + 1) * d);
      const mean = n.kind === "layer" ? row.reduce((a, v) => a + v, 0) / d : 0;
      const varc = row.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
      const r = 1 / Math.sqrt(varc + n.eps);
      for (let i = 0; i < d; i++) out[t * d + i] = (row[i] - mean) * r * (w ? w[i] + n.weightOffset : 1) + (bias ? bias[i] : 0);
    }
    return out;
  }

  private linear(x: Vec, T: number, W: tf.Tensor2D, b: tf.Tensor1D | null): Vec {
    const [din, dout] = W.shape;
    const w = this.w(W);
    const bias = b ? this.w(b) : null;
    const out = new Float64Array(T * dout);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < dout; j++) {
        let s = bias ? bias[j] : 0;
        for (let i = 0; i < din; i++) s += x[t * din + i] * w[i * dout + j];
        out[t * dout + j] = s;
      }
    }
    return out;
  }

  private attention(l: number, x: Vec, T: number, deltas: Map<string, Vec>): Vec {
    const a = this.m.blocks[l].attn;
    if (a.qNorm || a.kNorm || a.sinks || (a.slidingWindow !== null && a.slidingWindow < T) || a.softcap !== null) throw new Error("float64 reference: q/k norms, sinks, windows and softcaps are not implemented");
    const { nHeads: H, nKVHeads: KV, dHead: D } = a;
    const q = this.linear(x, T, a.W_Q, a.b_Q);
    const k = this.linear(x, T, a.W_K, a.b_K);
    const v = this.linear(x, T, a.W_V, a.b_V);
    if (a.rotary) {
      if (a.rotary.style !== "half" || a.rotary.invFreqFor) throw new Error("float64 reference: only fixed half-style rotary");
      this.rotate(q, T, H, D, a.rotary.invFreq, a.rotary.rotaryDim, a.rotary.attentionScaling);
      this.rotate(k, T, KV, D, a.rotary.invFreq, a.rotary.rotaryDim, a.rotary.attentionScaling);
    }
    const p = `blocks.${l}.attn.`;
    const pattern = new Float64Array(H * T * T);
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      for (let i = 0; i < T; i++) {
        let max = -Infinity;
        const row = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < D; e++) s += q[(i * H + h) * D + e] * k[(j * KV + g) * D + e];
          row[j] = s * a.scale;
          max = Math.max(max, row[j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += (row[j] = Math.exp(row[j] - max));
        for (let j = 0; j <= i; j++) pattern[(h * T + i) * T + j] = row[j] / sum;
      }
    }
    const pd = deltas.get(p + "hook_pattern");
    if (pd) for (let i = 0; i < pattern.length; i++) pattern[i] += pd[i];
    const z = new Float64Array(T * H * D);
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      for (let i = 0; i < T; i++) for (let e = 0; e < D; e++) {
        let s = 0;
        for (let j = 0; j < T; j++) s += pattern[(h * T + i) * T + j] * v[(j * KV + g) * D + e];
        z[(i * H + h) * D + e] = s;
      }
    }
    const zd = deltas.get(p + "hook_z");
    if (zd) for (let i = 0; i < z.length; i++) z[i] += zd[i];
    return this.linear(z, T, a.W_O, a.b_O);
  }

  private rotate(x: Vec, T: number, heads: number, D: number, invFreq: Float32Array, rot: number, scaling: number): void {
    const half = rot / 2;
    for (let t = 0; t < T; t++) for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * D;
      for (let i = 0; i < half; i++) {
        const angle = t * invFreq[i];
        const c = Math.cos(angle) * scaling;
        const s = Math.sin(angle) * scaling;
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }

  private mlp(l: number, x: Vec, T: number, deltas: Map<string, Vec>): Vec {
    const w = this.m.blocks[l].mlp;
    if (w.kind !== "dense") throw new Error("float64 reference: dense MLPs only");
    const act = (u: number): number => {
      switch (w.act) {
        case "silu":
          return u / (1 + Math.exp(-u));
        case "gelu_tanh":
          return 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3)));
        case "gelu_quick":
          return u / (1 + Math.exp(-1.702 * u));
        case "relu":
          return Math.max(0, u);
        case "gelu":
          throw new Error("float64 reference: exact gelu needs erf");
      }
    };
    const up = this.linear(x, T, w.W_in, w.b_in);
    let post: Vec;
    if (w.gated) {
      const gate = this.linear(x, T, w.W_gate!, w.b_gate);
      post = gate.map((g, i) => act(g) * up[i]);
    } else {
      post = up.map(act);
    }
    const pd = deltas.get(`blocks.${l}.mlp.hook_post`);
    if (pd) for (let i = 0; i < post.length; i++) post[i] += pd[i];
    return this.linear(post, T, w.W_out, w.b_out);
  }
}
