// Attention in one dispatch on webgpu, for when nothing observes the scores or the pattern: softmax(softcap(q·kᵀ ·
// scale) + mask) · v without ever writing the [heads, queries, keys] scores or pattern. The three-dispatch path
// (q·kᵀ, the fused softmax, pattern · v: attention.ts's attendInPlace) writes and reads those twice, and each of its
// dispatches costs the host ~30 µs of encoding on a forward pass that is host-bound at T = 128.
//
// The online softmax of FlashAttention (Dao et al., 2022): each thread owns one query row of one head and keeps its
// running maximum m, its running sum l of exp(s − m) and its output o = Σ exp(s − m)·v in registers; the
// workgroup's threads share tiles of keys and values staged in workgroup memory. After each tile, m moves to the
// tile's maximum if larger and l and o are rescaled by exp(m_old − m_new), so that at the end o / l is the softmax's
// weighted sum. The values differ from the three-dispatch path's only by the order of the sums and where exp's
// arguments are rounded (a row's maximum is reached in steps): float32 rounding, far inside `verify`'s tolerance.
import type { WebgpuProgram } from "./program";

/** Query rows per workgroup: one thread each. */
export const FLASH_ROWS = 64;
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

/**
 * q [batch, queries, heads, dHead] (as the projection lays it out), k / v [batch, keys, kvHeads, ·] (`kvPositions`)
 * or [batch, kvHeads, keys, ·], mask [batch, 1, queries, keys] (or [batch, heads, queries, keys]: ALiBi's, one per
 * head; uniform maskHeads 1 or heads) → z [batch, queries, heads, dV]. Query head h reads
 * key/value head ⌊h / group⌋. `causal`: the caller's word that query row i sees no key after i + past and that no
 * row is wholly masked; a workgroup then stops after the tile holding its last row's last visible key (the mask
 * makes the keys after a row's own count for nothing either way). Uniforms: queries, keys, heads, group, the
 * key/value strides in vec4s (key, head, batch), past, maskHeads, scale, softcap.
 */
export class FlashAttentionProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [2], z: [0] };
  dispatch: [number, number, number];
  variableNames = ["q", "k", "v", "mask"];
  variableComponents = [4, 4, 4, 1];
  outputComponent = 4;
  workgroupSize: [number, number, number] = [FLASH_ROWS, 1, 1];
  uniforms = "nQ : i32, nK : i32, heads : i32, group : i32, kvKeyStride : i32, kvHeadStride : i32, kvBatchStride : i32, past : i32, maskHeads : i32, scale : f32, softcap : f32,";
  readonly keyTile: number;

  constructor(
    readonly batch: number,
    readonly queries: number,
    readonly heads: number,
    readonly dHead: number,
    readonly dV: number,
    readonly softcap: boolean,
    readonly causal: boolean,
  ) {
    if (!flashAttentionFits(dHead, dV)) throw new Error(`FlashAttentionProgram: head widths ${dHead} / ${dV} (flashAttentionFits checks this first)`);
    this.keyTile = flashKeyTile(dHead, dV);
    this.outputShape = [batch, queries, heads, dV];
    this.dispatch = [Math.ceil(queries / FLASH_ROWS), heads, batch];
    this.shaderKey = `lmprobeFlashAttention_${dHead}_${dV}_${this.keyTile}_${softcap}_${causal}`;
  }

  getUserCode(): string {
    const D4 = this.dHead / 4;
    const V4 = this.dV / 4;
    const BC = this.keyTile;
    // tfjs-webgpu's tanh (finite for large |x|), as ScoresSoftmaxProgram applies it.
    const cap = this.softcap ? `{ let a = x / uniforms.softcap; let e2x = exp(-2.0 * abs(a)); x = sign(a) * (1.0 - e2x) / (1.0 + e2x) * uniforms.softcap; }` : "";
    // The scores of four keys at a time: four independent dot-product chains.
    const scoreOf = (i: number) => `acc${i} = acc${i} + dot(qv[c], Ks[(j + ${i}) * ${D4} + c]);`;
    const finish = (i: number) => `{
        let kj = k0 + j + ${i};
        var x = -uniforms.INFINITY;
        if (kj < uniforms.nK) {
          x = acc${i} * uniforms.scale;
          ${cap}
          x = x + mask[maskBase + kj];
        }
        s[j + ${i}] = x;
        mt = max(mt, x);
      }`;
    return `
var<workgroup> Ks : array<vec4<f32>, ${BC * D4}>;
var<workgroup> Vs : array<vec4<f32>, ${BC * V4}>;
var<workgroup> tileCount : i32;

fn main() {
  let tid = i32(localIndex);
  let h = i32(workgroupId.y);
  let b = i32(workgroupId.z);
  let row0 = i32(workgroupId.x) * ${FLASH_ROWS};
  let r = row0 + tid;
  let live = r < uniforms.nQ;
  let kvBase = b * uniforms.kvBatchStride + (h / uniforms.group) * uniforms.kvHeadStride;
  let maskBase = ((b * uniforms.maskHeads + h % uniforms.maskHeads) * uniforms.nQ + r) * uniforms.nK;
  var qv : array<vec4<f32>, ${D4}>;
  var o : array<vec4<f32>, ${V4}>;
  var s : array<f32, ${BC}>;
  if (live) {
    let qBase = ((b * uniforms.nQ + r) * uniforms.heads + h) * ${D4};
    for (var c = 0; c < ${D4}; c++) { qv[c] = q[qBase + c]; }
  }
  for (var c = 0; c < ${V4}; c++) { o[c] = vec4<f32>(0.0); }
  var m = -uniforms.INFINITY;
  var l = 0.0;
  // The tile count must be uniform (the loop holds barriers); workgroupUniformLoad makes it so.
  if (tid == 0) {
    var limit = uniforms.nK;
    ${this.causal ? `limit = min(limit, row0 + ${FLASH_ROWS} + uniforms.past);` : ""}
    tileCount = (limit + ${BC - 1}) / ${BC};
  }
  let tiles = workgroupUniformLoad(&tileCount);
  for (var t = 0; t < tiles; t++) {
    let k0 = t * ${BC};
    for (var i = tid; i < ${BC * D4}; i += ${FLASH_ROWS}) {
      let kj = k0 + i / ${D4};
      var kv = vec4<f32>(0.0);
      if (kj < uniforms.nK) { kv = k[kvBase + kj * uniforms.kvKeyStride + i % ${D4}]; }
      Ks[i] = kv;
    }
    for (var i = tid; i < ${BC * V4}; i += ${FLASH_ROWS}) {
      let kj = k0 + i / ${V4};
      var vv = vec4<f32>(0.0);
      if (kj < uniforms.nK) { vv = v[kvBase + kj * uniforms.kvKeyStride + i % ${V4}]; }
      Vs[i] = vv;
    }
    workgroupBarrier();
    if (live) {
      var mt = -uniforms.INFINITY;
      for (var j = 0; j < ${BC}; j += 4) {
        var acc0 = 0.0; var acc1 = 0.0; var acc2 = 0.0; var acc3 = 0.0;
        for (var c = 0; c < ${D4}; c++) {
          ${[0, 1, 2, 3].map(scoreOf).join("\n          ")}
        }
        ${[0, 1, 2, 3].map(finish).join("\n        ")}
      }
      let mNew = max(m, mt);
      // A tile of keys past the last (its scores all −∞) leaves m, l and o as they are.
      if (mNew > -uniforms.INFINITY) {
        let corr = exp(m - mNew);
        l = l * corr;
        for (var c = 0; c < ${V4}; c++) { o[c] = o[c] * corr; }
        for (var j = 0; j < ${BC}; j++) {
          let p = exp(s[j] - mNew);
          l = l + p;
          for (var c = 0; c < ${V4}; c++) { o[c] = o[c] + p * Vs[j * ${V4} + c]; }
        }
        m = mNew;
      }
    }
    workgroupBarrier();
  }
  if (live) {
    let zBase = ((b * uniforms.nQ + r) * uniforms.heads + h) * ${V4};
    for (var c = 0; c < ${V4}; c++) { result[zBase + c] = o[c] / l; }
  }
}
`;
  }
}
