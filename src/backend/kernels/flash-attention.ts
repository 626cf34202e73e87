// Attention in one dispatch on webgpu, for when nothing observes the scores or the pattern: softmax(softcap(q·kᵀ ·
// scale) + mask) · v without ever writing the [heads, queries, keys] scores or pattern. The three-dispatch path
// (q·kᵀ, the fused softmax, pattern · v: attention.ts's attendInPlace) writes and reads those twice, and each of its
// dispatches costs the host ~30 µs of encoding on a forward pass that is host-bound at T = 128.
//
// The online softmax of FlashAttention (Dao et al., 2022): each thread owns one query row of one head (or a part of
// its keys, FlashAttentionProgram's keyGroups) and keeps its running maximum m, its running sum l of exp(s − m) and
// its output o = Σ exp(s − m)·v in registers; the workgroup's threads share tiles of keys and values staged in
// workgroup memory. After each tile, m moves to the tile's maximum if larger and l and o are rescaled by
// exp(m_old − m_new), so that at the end o / l is the softmax's weighted sum. The values differ from the three-dispatch path's only by the order of the sums and where exp's
// arguments are rounded (a row's maximum is reached in steps): float32 rounding, far inside `verify`'s tolerance.
// On an H100 it beat the three dispatches up to 256 positions and lost from 512 (fused.ts's FLASH_MAX_KEYS): there,
// by the forward times, the tiled products and the softmax take about half its time (they reuse each loaded value
// across a block of outputs; here a thread reads its keys one at a time from workgroup memory).
import type { WebgpuProgram } from "./program";

/** Threads per workgroup: FLASH_THREADS / keyGroups query rows, each row's keys shared by keyGroups threads. */
export const FLASH_THREADS = 64;
/** Workgroup memory for the key and value tiles: WebGPU's guaranteed minimum of maxComputeWorkgroupStorageSize. */
const TILE_BYTES = 16384;
/** Widest head the registers take (q and o are held whole per thread: 2 × 128 floats at the widest). */
export const FLASH_MAX_HEAD = 128;

/** Keys per tile: the most (a power of two, 4 to 32) whose key and value rows fit TILE_BYTES. */
export function flashKeyTile(dHead: number, dV: number): number {
  let tile = 32;
  while (tile > 4 && tile * (dHead + dV) * 4 > TILE_BYTES) tile /= 2;
  return tile;
}

/** Whether the kernel takes these head widths (whole vec4s, at most FLASH_MAX_HEAD). */
export function flashAttentionFits(dHead: number, dV: number): boolean {
  return dHead % 4 === 0 && dV % 4 === 0 && dHead > 0 && dV > 0 && dHead <= FLASH_MAX_HEAD && dV <= FLASH_MAX_HEAD && flashKeyTile(dHead, dV) * (dHead + dV) * 4 <= TILE_BYTES;
}

export type FlashKeyGroups = 1 | 2 | 4;

/**
 * The uniforms of both flash programs (this one and flash-attention-blocked.ts's), in flashAttentionUniforms' order
 * (its int32 values), then scale and softcap.
 */
export const FLASH_UNIFORMS =
  "nQ : i32, nK : i32, heads : i32, group : i32, kvKeyStride : i32, kvHeadStride : i32, kvBatchStride : i32, past : i32, maskHeads : i32, " +
  "qRowStride : i32, qStart : i32, kStart : i32, vStart : i32, vKeyStride : i32, vHeadStride : i32, vBatchStride : i32, scale : f32, softcap : f32,";

/**
 * Whether `keyGroups` threads per row fit: each takes at least four keys of a tile (the tile grows to 4 · keyGroups
 * keys where workgroup memory allows), and the merge passes one value per thread through the key and value tiles.
 */
export function flashKeyGroupsFit(dHead: number, dV: number, keyGroups: FlashKeyGroups): boolean {
  if (!flashAttentionFits(dHead, dV)) return false;
  if (keyGroups === 1) return true;
  const tile = Math.max(flashKeyTile(dHead, dV), 4 * keyGroups);
  return tile * (dHead + dV) * 4 <= TILE_BYTES && tile * Math.min(dHead, dV) >= 4 * FLASH_THREADS;
}

/**
 * q [batch, queries, heads, dHead] (as the projection lays it out), k / v [batch, keys, kvHeads, ·] (`kvPositions`)
 * or [batch, kvHeads, keys, ·], mask [batch, 1, queries, keys] (or [batch, heads, queries, keys]: ALiBi's, one per
 * head; uniform maskHeads 1 or heads) → z [batch, queries, heads, dV]. Query head h reads key/value head
 * ⌊h / group⌋. `causal`: the caller's word that query row i sees no key after i + past and that no row is wholly
 * masked; a workgroup then stops after the tile holding its last row's last visible key (the mask makes the keys
 * after a row's own count for nothing either way). Uniforms: queries, keys, heads, group, the key strides in vec4s
 * (key, head, batch), past, maskHeads, then where q, k and v lie in their buffers (in vec4s: q's row stride and
 * first element, k's and v's first elements, v's strides): each may be a part of one q|k|v product's rows
 * (flashAttentionPlacement), scale, softcap.
 *
 * `keyGroups` threads share each query row, each taking its own part of every tile of keys with its own m, l and o;
 * at the end the first merges the others' (m, l, o) into its own: M = max m_g, L = Σ l_g·exp(m_g − M), O = Σ
 * o_g·exp(m_g − M). More threads for the same rows: one thread per row leaves a large GPU with under one warp per
 * scheduler at 1024 positions (GPT-2-small: 12 heads × 1024 rows), each walking every key of its row.
 */
export class FlashAttentionProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [2], z: [0] };
  dispatch: [number, number, number];
  variableNames = ["q", "k", "v", "mask"];
  variableComponents = [4, 4, 4, 1];
  outputComponent = 4;
  workgroupSize: [number, number, number] = [FLASH_THREADS, 1, 1];
  uniforms = FLASH_UNIFORMS;
  readonly keyTile: number;
  readonly rows: number;

  constructor(
    readonly batch: number,
    readonly queries: number,
    readonly heads: number,
    readonly dHead: number,
    readonly dV: number,
    readonly softcap: boolean,
    readonly causal: boolean,
    readonly keyGroups: FlashKeyGroups = 1,
  ) {
    if (!flashAttentionFits(dHead, dV)) throw new Error(`FlashAttentionProgram: head widths ${dHead} / ${dV} (flashAttentionFits checks this first)`);
    this.keyTile = Math.max(flashKeyTile(dHead, dV), 4 * keyGroups);
    if (!flashKeyGroupsFit(dHead, dV, keyGroups)) throw new Error(`FlashAttentionProgram: ${keyGroups} key groups do not fit heads of ${dHead} / ${dV}`);
    this.rows = FLASH_THREADS / keyGroups;
    this.outputShape = [batch, queries, heads, dV];
    this.dispatch = [Math.ceil(queries / this.rows), heads, batch];
    this.shaderKey = `lmprobeFlashAttention_${dHead}_${dV}_${this.keyTile}_g${keyGroups}_${softcap}_${causal}`;
  }

  getUserCode(): string {
    const D4 = this.dHead / 4;
    const V4 = this.dV / 4;
    const BC = this.keyTile;
    const G = this.keyGroups;
    const R = this.rows;
    /** Keys of each tile per thread. */
    const BG = BC / G;
    // tfjs-webgpu's tanh (finite for large |x|), as ScoresSoftmaxProgram applies it.
    const cap = this.softcap ? `{ let a = x / uniforms.softcap; let e2x = exp(-2.0 * abs(a)); x = sign(a) * (1.0 - e2x) / (1.0 + e2x) * uniforms.softcap; }` : "";
    // The scores of four keys at a time: four independent dot-product chains.
    const scoreOf = (i: number) => `acc${i} = acc${i} + dot(qv[c], Ks[(kt + j + ${i}) * ${D4} + c]);`;
    const finish = (i: number) => `{
        let kj = k0 + kt + j + ${i};
        var x = -uniforms.INFINITY;
        if (kj < uniforms.nK) {
          x = acc${i} * uniforms.scale;
          ${cap}
          x = x + mask[maskBase + kj];
        }
        s[j + ${i}] = x;
        mt = max(mt, x);
      }`;
    // The merge of the key groups' partial results into the first group's, through the tiles' workgroup memory (free
    // after the loop's last barrier): every thread's (m, l) in Vs, then one vec4 of o at a time in Ks.
    const others = (what: string) => `for (var g = 1; g < ${G}; g++) {
    let mg = Vs[rho + g * ${R}].x;
    if (mg > -uniforms.INFINITY) { ${what} }
  }`;
    const merge =
      G === 1
        ? ""
        : `
  Vs[tid] = vec4<f32>(m, l, 0.0, 0.0);
  workgroupBarrier();
  var big = m;
  for (var g = 1; g < ${G}; g++) { big = max(big, Vs[rho + g * ${R}].x); }
  var factor = exp(m - big);
  if (m == -uniforms.INFINITY) { factor = 0.0; }
  l = l * factor;
  ${others("l = l + Vs[rho + g * " + R + "].y * exp(mg - big);")}
  ${Array.from({ length: V4 }, (_, c) => `Ks[tid] = o[${c}];
  workgroupBarrier();
  if (gamma == 0) {
    var sum = o[${c}] * factor;
    ${others("sum = sum + Ks[rho + g * " + R + "] * exp(mg - big);")}
    o[${c}] = sum;
  }
  workgroupBarrier();`).join("\n  ")}`;
    return `
var<workgroup> Ks : array<vec4<f32>, ${BC * D4}>;
var<workgroup> Vs : array<vec4<f32>, ${BC * V4}>;
var<workgroup> tileCount : i32;

fn main() {
  let tid = i32(localIndex);
  // Thread tid takes query row rho of the workgroup's rows and key group gamma (keys kt .. kt + ${BG} of each tile).
  let rho = tid % ${R};
  let gamma = tid / ${R};
  let kt = gamma * ${BG};
  let h = i32(workgroupId.y);
  let b = i32(workgroupId.z);
  let row0 = i32(workgroupId.x) * ${R};
  let r = row0 + rho;
  let live = r < uniforms.nQ;
  let kvBase = uniforms.kStart + b * uniforms.kvBatchStride + (h / uniforms.group) * uniforms.kvHeadStride;
  let vBase = uniforms.vStart + b * uniforms.vBatchStride + (h / uniforms.group) * uniforms.vHeadStride;
  let maskBase = ((b * uniforms.maskHeads + h % uniforms.maskHeads) * uniforms.nQ + r) * uniforms.nK;
  var qv : array<vec4<f32>, ${D4}>;
  var o : array<vec4<f32>, ${V4}>;
  var s : array<f32, ${BG}>;
  if (live) {
    let qBase = uniforms.qStart + (b * uniforms.nQ + r) * uniforms.qRowStride + h * ${D4};
    for (var c = 0; c < ${D4}; c++) { qv[c] = q[qBase + c]; }
  }
  for (var c = 0; c < ${V4}; c++) { o[c] = vec4<f32>(0.0); }
  var m = -uniforms.INFINITY;
  var l = 0.0;
  // The tile count must be uniform (the loop holds barriers); workgroupUniformLoad makes it so.
  if (tid == 0) {
    var limit = uniforms.nK;
    ${this.causal ? `limit = min(limit, row0 + ${R} + uniforms.past);` : ""}
    tileCount = (limit + ${BC - 1}) / ${BC};
  }
  let tiles = workgroupUniformLoad(&tileCount);
  for (var t = 0; t < tiles; t++) {
    let k0 = t * ${BC};
    for (var i = tid; i < ${BC * D4}; i += ${FLASH_THREADS}) {
      let kj = k0 + i / ${D4};
      var kv = vec4<f32>(0.0);
      if (kj < uniforms.nK) { kv = k[kvBase + kj * uniforms.kvKeyStride + i % ${D4}]; }
      Ks[i] = kv;
    }
    for (var i = tid; i < ${BC * V4}; i += ${FLASH_THREADS}) {
      let kj = k0 + i / ${V4};
      var vv = vec4<f32>(0.0);
      if (kj < uniforms.nK) { vv = v[vBase + kj * uniforms.vKeyStride + i % ${V4}]; }
      Vs[i] = vv;
    }
    workgroupBarrier();
    if (live) {
      var mt = -uniforms.INFINITY;
      for (var j = 0; j < ${BG}; j += 4) {
        var acc0 = 0.0; var acc1 = 0.0; var acc2 = 0.0; var acc3 = 0.0;
        for (var c = 0; c < ${D4}; c++) {
          ${[0, 1, 2, 3].map(scoreOf).join("\n          ")}
        }
        ${[0, 1, 2, 3].map(finish).join("\n        ")}
      }
      let mNew = max(m, mt);
      // Keys past the last (their scores all −∞) leave m, l and o as they are.
      if (mNew > -uniforms.INFINITY) {
        let corr = exp(m - mNew);
        l = l * corr;
        for (var c = 0; c < ${V4}; c++) { o[c] = o[c] * corr; }
        for (var j = 0; j < ${BG}; j++) {
          let p = exp(s[j] - mNew);
          l = l + p;
          for (var c = 0; c < ${V4}; c++) { o[c] = o[c] + p * Vs[(kt + j) * ${V4} + c]; }
        }
        m = mNew;
      }
    }
    workgroupBarrier();
  }${merge}
  if (live && gamma == 0) {
    let zBase = ((b * uniforms.nQ + r) * uniforms.heads + h) * ${V4};
    for (var c = 0; c < ${V4}; c++) { result[zBase + c] = o[c] / l; }
  }
}
`;
  }
}

/** Where a tensor of heads lies in its buffer, by positions: its first element and its row (position) stride, in floats. */
export interface HeadsPlacement {
  start: number;
  row: number;
}

/**
 * FlashAttentionProgram's int32 uniforms for q [batch, queries, heads, dHead] and k / v by positions ([batch, keys,
 * kvHeads, dHead] rows of `row` floats from `start`: their own tensors, row = kvHeads · dHead, start = 0, or parts of
 * one q|k|v product's rows) or by heads ([batch, kvHeads, keys, dHead], whole tensors).
 */
export function flashAttentionUniforms(
  s: { batch: number; queries: number; keys: number; heads: number; kvHeads: number; dHead: number; maskHeads: number },
  placement: { q: HeadsPlacement; k: HeadsPlacement; v: HeadsPlacement } | "heads",
): number[] {
  const d4 = s.dHead / 4;
  const byHeads = placement === "heads";
  const q = byHeads ? { start: 0, row: s.heads * s.dHead } : placement.q;
  const strides = (p: HeadsPlacement) => (byHeads ? [d4, s.keys * d4, s.kvHeads * s.keys * d4] : [p.row / 4, d4, s.keys * (p.row / 4)]);
  const kPlace = byHeads ? { start: 0, row: 0 } : placement.k;
  const vPlace = byHeads ? { start: 0, row: 0 } : placement.v;
  for (const p of [q, kPlace, vPlace]) if (p.start % 4 !== 0 || p.row % 4 !== 0) throw new Error(`FlashAttentionProgram: placements must be whole vec4s (start ${p.start}, row ${p.row})`);
  const [kKey, kHead, kBatch] = strides(kPlace);
  const [vKey, vHead, vBatch] = strides(vPlace);
  return [
    s.queries, s.keys, s.heads, s.heads / s.kvHeads, kKey, kHead, kBatch, s.keys - s.queries, s.maskHeads,
    q.row / 4, q.start / 4, kPlace.start / 4, vPlace.start / 4, vKey, vHead, vBatch,
  ];
}
