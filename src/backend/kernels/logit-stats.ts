// One pass over a [rows, vocab] block of logits on the webgpu backend, one workgroup per row: log Σ exp,
// entropy and the top-k, without materialising softmax or sorting. Each thread streams a strided slice of
// the row keeping a running max M, S = Σ e^(x−M), W = Σ e^(x−M)(x−M) and a sorted top-k in registers; the
// 256 partial states then merge in a tree through workgroup memory. log Σ exp = M + log S and the entropy is
// log S − W/S (relative to M, so logits of any size keep full precision). Ties keep the lower token id.
// NaN logits are skipped; −Infinity adds nothing to the sums but can be among the top-k (after every finite logit).
import type { WebgpuProgram } from "./program";

export const MAX_TOP_K = 8;
const THREADS = 256;
const ROWS_PER_DISPATCH_X = 32768;

/** Output row layout: [logSumExp, entropy, top logits × k, top ids × k] (ids as exact float32 integers). */
export class LogitStatsProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  variableNames = ["logits"];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = "rows : i32, vocab : i32,";

  constructor(readonly rows: number, readonly vocab: number, readonly k: number) {
    if (!(k >= 1 && k <= MAX_TOP_K)) throw new Error(`LogitStatsProgram: k=${k} outside [1, ${MAX_TOP_K}]`);
    this.outputShape = [rows, 2 + 2 * k];
    this.dispatch = [Math.min(rows, ROWS_PER_DISPATCH_X), Math.ceil(rows / ROWS_PER_DISPATCH_X), 1];
    this.shaderKey = `lmprobeLogitStats_${k}`;
  }

  getUserCode(): string {
    const K = this.k;
    const insert = Array.from({ length: K }, (_, j) => j)
      .reverse()
      .map((j) =>
        j === 0
          ? `tv[0] = x; ti[0] = i;`
          : `if (ti[${j - 1}] < 0 || x > tv[${j - 1}]) { tv[${j}] = tv[${j - 1}]; ti[${j}] = ti[${j - 1}]; } else { tv[${j}] = x; ti[${j}] = i; return; }`,
      )
      .join("\n      ");
    return `
var<workgroup> sM : array<f32, ${THREADS}>;
var<workgroup> sS : array<f32, ${THREADS}>;
var<workgroup> sW : array<f32, ${THREADS}>;
var<workgroup> sV : array<f32, ${THREADS * K}>;
var<workgroup> sI : array<i32, ${THREADS * K}>;

var<private> tv : array<f32, ${K}>;
var<private> ti : array<i32, ${K}>;

// Inserts x (token i) into the sorted top-k (an empty slot, id −1, takes anything); ids arrive in increasing
// order per thread, so a tie stays behind.
fn insertTop(x : f32, i : i32) {
  if (ti[${K - 1}] >= 0 && !(x > tv[${K - 1}])) { return; }
      ${insert}
}

// (a before b): larger value first, equal values by lower id; an empty slot (id −1) loses to everything.
fn before(va : f32, ia : i32, vb : f32, ib : i32) -> bool {
  if (ib < 0) { return ia >= 0; }
  if (ia < 0) { return false; }
  return va > vb || (va == vb && ia < ib);
}

fn main() {
  let tid = i32(localIndex);
  let row = i32(workgroupId.y) * ${ROWS_PER_DISPATCH_X} + i32(workgroupId.x);
  // No early return for rows past the end: the barriers below must be reached by every thread (workgroupId
  // is a private copy in tfjs's shader prelude, so WGSL cannot prove a return on it uniform).
  let valid = row < uniforms.rows;
  let V = select(0, uniforms.vocab, valid);
  let base = row * uniforms.vocab;
  var m = -3.4028234663852886e38;
  var s = 0.0;
  var w = 0.0;
  for (var j = 0; j < ${K}; j++) { tv[j] = -uniforms.INFINITY; ti[j] = -1; }
  for (var i = tid; i < V; i += ${THREADS}) {
    let x = logits[base + i];
    // NaN is skipped (tested on the bits: fast-math may fold x != x).
    if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { continue; }
    // −Infinity contributes e^−∞ = 0 to the sums but can still fill the top-k of a row with few finite logits.
    if (ti[${K - 1}] < 0 || x > tv[${K - 1}]) { insertTop(x, i); }
    if (x < -3.4028234663852886e38) { continue; }
    if (x > m) {
      // New maximum: rescale S and W to it (S = 0 before the first finite logit, where there is nothing to rescale).
      if (s > 0.0) {
        let d = m - x;
        let a = exp(d);
        w = a * (w + d * s);
        s = a * s;
      }
      s = s + 1.0;
      m = x;
    } else {
      let d = x - m;
      let e = exp(d);
      s = s + e;
      w = fma(e, d, w);
    }
  }
  sM[tid] = m; sS[tid] = s; sW[tid] = w;
  for (var j = 0; j < ${K}; j++) { sV[tid * ${K} + j] = tv[j]; sI[tid * ${K} + j] = ti[j]; }
  workgroupBarrier();
  for (var stride = ${THREADS / 2}; stride > 0; stride = stride / 2) {
    if (tid < stride) {
      let o = tid + stride;
      let m1 = sM[tid]; let s1 = sS[tid]; let w1 = sW[tid];
      let m2 = sM[o]; let s2 = sS[o]; let w2 = sW[o];
      if (s2 > 0.0) {
        if (s1 == 0.0) {
          sM[tid] = m2; sS[tid] = s2; sW[tid] = w2;
        } else {
          let mm = max(m1, m2);
          let d1 = m1 - mm; let d2 = m2 - mm;
          let a1 = exp(d1); let a2 = exp(d2);
          sM[tid] = mm;
          sS[tid] = a1 * s1 + a2 * s2;
          sW[tid] = a1 * (w1 + d1 * s1) + a2 * (w2 + d2 * s2);
        }
      }
      // Merge two sorted lists of k into the best k.
      var p = 0; var q = 0;
      var mv : array<f32, ${K}>; var mi : array<i32, ${K}>;
      for (var j = 0; j < ${K}; j++) {
        let pp = min(p, ${K - 1}); let qq = min(q, ${K - 1});
        let va = sV[tid * ${K} + pp]; let ia = sI[tid * ${K} + pp];
        let vb = sV[o * ${K} + qq]; let ib = sI[o * ${K} + qq];
        if (p < ${K} && (q >= ${K} || before(va, ia, vb, ib))) { mv[j] = va; mi[j] = ia; p++; }
        else { mv[j] = vb; mi[j] = ib; q++; }
      }
      for (var j = 0; j < ${K}; j++) { sV[tid * ${K} + j] = mv[j]; sI[tid * ${K} + j] = mi[j]; }
    }
    workgroupBarrier();
  }
  if (tid == 0 && valid) {
    let out = row * ${2 + 2 * K};
    let S = sS[0];
    let logS = log(S);
    result[out] = select(-uniforms.INFINITY, sM[0] + logS, S > 0.0);
    result[out + 1] = select(0.0, max(logS - sW[0] / S, 0.0), S > 0.0);
    for (var j = 0; j < ${K}; j++) {
      result[out + 2 + j] = sV[j];
      result[out + 2 + ${K} + j] = f32(sI[j]);
    }
  }
}
`;
  }
}
