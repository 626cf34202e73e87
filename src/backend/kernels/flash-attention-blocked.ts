// Attention in one dispatch for long prompts: FlashAttention's online softmax (Dao et al., 2022) over blocks of
// 64 query rows × 32 (or 16) keys, each block's scores and weighted values computed as small register-blocked products.
// flash-attention.ts's kernel gives each thread one query row, which reads every key and value of a tile from
// workgroup memory for that one row: at 512 positions and more, where the GPU's time rules, it ran about twice as
// long as the tiled products plus the softmax pass. Here a thread computes a 4 × 4 (or 4 × 2) block of scores (each
// key vector read once for four rows, each query vector once for four keys) and a 4-row block of the output, as the tiled
// matmul does, so a workgroup reads each staged value a quarter as often per multiply-add.
//
// Per tile of 32 keys: (1) scores S = q·kᵀ for the block's 64 rows, then scale, softcap and mask, into workgroup
// memory; (2) one thread per row moves its running maximum m to the tile's, rescales its running sum l by
// exp(m_old − m_new), replaces the row's scores by p = exp(s − m_new) and adds them to l; (3) every thread rescales
// its rows' outputs by the same factor and adds p · v. After the last tile each output row is divided by its l.
// Keys past the last are −∞ (p = 0); the mask's finite minimum keeps masked rows finite, as in the other kernel.
//
// It takes heads of 32 or 64 (q for the block's 64 rows is staged whole: 16 KB at 64 wide; 42 KB of workgroup
// memory in all with 32-key tiles, 30 KB with 16). Uniforms and placements are FlashAttentionProgram's
// (flashAttentionUniforms).
import type { WebgpuProgram } from "./program";
import { FLASH_UNIFORMS } from "./flash-attention";

/** Query rows per workgroup, threads per workgroup. */
const BR = 64;
const THREADS = 128;

export type FlashKeyBlock = 16 | 32;

/** Whether the blocked kernel takes heads of this width: 32 or 64 (each thread's output is whole vec4s). */
export function flashBlockedFits(dHead: number): boolean {
  return dHead === 32 || dHead === 64;
}

/** Workgroup memory it needs (bytes): q's rows, the key and value tiles (padded rows), the scores, the row factors. */
export function flashBlockedWorkgroupBytes(dHead: number, keys: FlashKeyBlock): number {
  const d4 = dHead / 4;
  return 16 * (BR * d4 + 2 * keys * (d4 + 1)) + 4 * (BR * (keys + 1) + 2 * BR);
}

/**
 * Keys per tile: 32 where the device's workgroup memory takes it (an H100's 48 KB), else 16 (WebGPU's guaranteed
 * 16 KB does not take either at 64 wide: null then).
 */
export function flashKeyBlock(dHead: number, workgroupStorage: number): FlashKeyBlock | null {
  if (!flashBlockedFits(dHead)) return null;
  return ([32, 16] as const).find((keys) => flashBlockedWorkgroupBytes(dHead, keys) <= workgroupStorage) ?? null;
}

export class FlashAttentionBlockedProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [2], z: [0] };
  dispatch: [number, number, number];
  variableNames = ["q", "k", "v", "mask"];
  variableComponents = [4, 4, 4, 1];
  outputComponent = 4;
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = FLASH_UNIFORMS;

  constructor(
    readonly batch: number,
    readonly queries: number,
    readonly heads: number,
    readonly dHead: number,
    readonly softcap: boolean,
    readonly causal: boolean,
    /** Keys per tile (flashKeyBlock). */
    readonly keyBlock: FlashKeyBlock,
  ) {
    if (!flashBlockedFits(dHead)) throw new Error(`FlashAttentionBlockedProgram: heads of ${dHead} (flashBlockedFits checks this first)`);
    this.outputShape = [batch, queries, heads, dHead];
    this.dispatch = [Math.ceil(queries / BR), heads, batch];
    this.shaderKey = `lmprobeFlashBlocked_${dHead}_${keyBlock}_${softcap}_${causal}`;
  }

  getUserCode(): string {
    const BC = this.keyBlock;
    const D4 = this.dHead / 4;
    const KS = D4 + 1; // padded key and value rows (vec4s): consecutive rows fall on different banks
    const PS = BC + 1; // padded score rows (floats)
    const OV = D4 / 8; // output vec4s per thread per row: columns tx + 8u
    const cap = this.softcap ? `{ let a = x / uniforms.softcap; let e2x = exp(-2.0 * abs(a)); x = sign(a) * (1.0 - e2x) / (1.0 + e2x) * uniforms.softcap; }` : "";
    const rows = [0, 1, 2, 3];
    const keys = Array.from({ length: BC / 8 }, (_, j) => j);
    const us = Array.from({ length: OV }, (_, u) => u);
    // Scores: thread (ty, tx) takes rows 4ty + i and keys tx + 8j.
    const dots = rows.flatMap((i) => keys.map((j) => `acc${i}_${j} = acc${i}_${j} + dot(qa${i}, kb${j});`)).join(" ");
    const finish = rows
      .flatMap((i) =>
        keys.map(
          (j) => `{
      let r = row0 + 4 * ty + ${i};
      let kj = k0 + tx + ${8 * j};
      var x = -uniforms.INFINITY;
      if (kj < uniforms.nK && r < uniforms.nQ) {
        x = acc${i}_${j} * uniforms.scale;
        ${cap}
        x = x + mask[maskBase + r * uniforms.nK + kj];
      }
      Ps[(4 * ty + ${i}) * ${PS} + tx + ${8 * j}] = x;
    }`,
        ),
      )
      .join("\n    ");
    const rescale = rows.map((i) => `{ let f = Corr[4 * ty + ${i}]; ${us.map((u) => `o${i}_${u} = o${i}_${u} * f;`).join(" ")} }`).join("\n    ");
    const weigh = rows.map((i) => `let p${i} = Ps[(4 * ty + ${i}) * ${PS} + j]; ${us.map((u) => `o${i}_${u} = o${i}_${u} + p${i} * vv${u};`).join(" ")}`).join("\n      ");
    const store = rows
      .map(
        (i) => `{
    let r = row0 + 4 * ty + ${i};
    if (r < uniforms.nQ) {
      let inv = L[4 * ty + ${i}];
      let zBase = ((b * uniforms.nQ + r) * uniforms.heads + h) * ${D4};
      ${us.map((u) => `result[zBase + tx + ${8 * u}] = o${i}_${u} / inv;`).join("\n      ")}
    }
  }`,
      )
      .join("\n  ");
    return `
var<workgroup> Qs : array<vec4<f32>, ${BR * D4}>;
var<workgroup> Ks : array<vec4<f32>, ${BC * KS}>;
var<workgroup> Vs : array<vec4<f32>, ${BC * KS}>;
var<workgroup> Ps : array<f32, ${BR * PS}>;
var<workgroup> Corr : array<f32, ${BR}>;
var<workgroup> L : array<f32, ${BR}>;
var<workgroup> tileCount : i32;

fn main() {
  let tid = i32(localIndex);
  let ty = tid / 8;
  let tx = tid % 8;
  let h = i32(workgroupId.y);
  let b = i32(workgroupId.z);
  let row0 = i32(workgroupId.x) * ${BR};
  let kBase = uniforms.kStart + b * uniforms.kvBatchStride + (h / uniforms.group) * uniforms.kvHeadStride;
  let vBase = uniforms.vStart + b * uniforms.vBatchStride + (h / uniforms.group) * uniforms.vHeadStride;
  let maskBase = (b * uniforms.maskHeads + h % uniforms.maskHeads) * uniforms.nQ * uniforms.nK;
  for (var i = tid; i < ${BR * D4}; i += ${THREADS}) {
    let r = row0 + i / ${D4};
    var qv = vec4<f32>(0.0);
    if (r < uniforms.nQ) { qv = q[uniforms.qStart + (b * uniforms.nQ + r) * uniforms.qRowStride + h * ${D4} + i % ${D4}]; }
    Qs[i] = qv;
  }
  // Thread tid < ${BR} keeps row tid's running maximum and sum.
  var m = -uniforms.INFINITY;
  var l = 0.0;
  ${rows.flatMap((i) => us.map((u) => `var o${i}_${u} = vec4<f32>(0.0);`)).join(" ")}
  // The tile count must be uniform (the loop holds barriers); workgroupUniformLoad makes it so.
  if (tid == 0) {
    var limit = uniforms.nK;
    ${this.causal ? `limit = min(limit, row0 + ${BR} + uniforms.past);` : ""}
    tileCount = (limit + ${BC - 1}) / ${BC};
  }
  let tiles = workgroupUniformLoad(&tileCount);
  for (var t = 0; t < tiles; t++) {
    let k0 = t * ${BC};
    for (var i = tid; i < ${BC * D4}; i += ${THREADS}) {
      let kj = k0 + i / ${D4};
      let c = i % ${D4};
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (kj < uniforms.nK) {
        kv = k[kBase + kj * uniforms.kvKeyStride + c];
        vv = v[vBase + kj * uniforms.vKeyStride + c];
      }
      Ks[(i / ${D4}) * ${KS} + c] = kv;
      Vs[(i / ${D4}) * ${KS} + c] = vv;
    }
    workgroupBarrier();
    {
      ${rows.flatMap((i) => keys.map((j) => `var acc${i}_${j} = 0.0;`)).join(" ")}
      for (var c = 0; c < ${D4}; c++) {
        ${rows.map((i) => `let qa${i} = Qs[(4 * ty + ${i}) * ${D4} + c];`).join(" ")}
        ${keys.map((j) => `let kb${j} = Ks[(tx + ${8 * j}) * ${KS} + c];`).join(" ")}
        ${dots}
      }
    ${finish}
    }
    workgroupBarrier();
    if (tid < ${BR}) {
      var mt = -uniforms.INFINITY;
      for (var j = 0; j < ${BC}; j++) { mt = max(mt, Ps[tid * ${PS} + j]); }
      let mNew = max(m, mt);
      var corr = 1.0;
      if (mNew > -uniforms.INFINITY) {
        corr = exp(m - mNew);
        l = l * corr;
        for (var j = 0; j < ${BC}; j++) {
          let p = exp(Ps[tid * ${PS} + j] - mNew);
          Ps[tid * ${PS} + j] = p;
          l = l + p;
        }
        m = mNew;
      } else {
        for (var j = 0; j < ${BC}; j++) { Ps[tid * ${PS} + j] = 0.0; }
      }
      Corr[tid] = corr;
    }
    workgroupBarrier();
    ${rescale}
    for (var j = 0; j < ${BC}; j++) {
      ${us.map((u) => `let vv${u} = Vs[j * ${KS} + tx + ${8 * u}];`).join(" ")}
      ${weigh}
    }
    workgroupBarrier();
  }
  if (tid < ${BR}) { L[tid] = l; }
  workgroupBarrier();
  ${store}
}
`;
  }
}
