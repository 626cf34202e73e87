// A float32 matrix product for the webgpu backend, tiled for large GPUs: each workgroup of 256 threads computes
// a 128×128 block of C, each thread an 8×8 sub-block held in registers, with 16-deep slices of A and B staged in
// workgroup memory and the next slice prefetched into registers while the current one is multiplied.
// tfjs-webgpu's own matmul (32×32 tiles, 4×4 per thread) reaches about a fifth of an H100's float32 rate; the
// larger register tile quarters the workgroup-memory traffic per multiply-add, which is what bounds it.
//
// Tried and not kept: two workgroup-memory buffers per operand (the next slice stored beside the one being multiplied,
// one barrier per slice instead of two, offsets constant by taking two slices per loop turn) gave the same bits but
// ran 1.0–1.4× slower on an H100 at every Llama-8B shape (the lens at M = 1024: 30.6 → 43.1 ms;
// bench/results/gpu-h100/matmul-two-buffers-experiment.json, packed_buffers_1_ms against packed_buffers_2_ms).
// No prefetch (each slice loaded and stored after the barrier, so that ra/rb are not live across the multiply-adds)
// made packed v2 at M = 1024 1.35–1.5× faster (the 8B's lens 23.7 → 36.2 TFLOP/s on an H200) but float32 v2 there
// 1.25–1.4× slower, and the scheme chosen for packed weights at that size (v1, with prefetch) was already within
// −2..+13% of it: not kept (bench/results/gpu-h200/prefetch-experiment/, four runs of bench/gpu/packed-matmul.mjs
// in one call, prefetch on/off × Dawn's robustness on/off).
//
// Products too small to fill the GPU with 128×128 blocks (GPT-2's [1024, 768]·[768, 768] is 48 blocks for 132
// SMs) use 64×64 blocks instead, each thread then 4×4: four times the workgroups, half the reuse.
//
// Products of few rows over a deep K (a short prompt through an 8B model) also split K across workgroups
// (split-k.ts): more workgroups, each over part of K, and a second pass adding the partial sums.
//
// Layouts: A [batch, M, K] row-major; B [batch, K, N] ("nn") or [batch, N, K] ("nt", a [vocab, d] unembedding
// used without a transposed copy). Requires K % 4 == 0 (vec4 loads along K) and, for "nn", N % 4 == 0.
import type { WebgpuProgram } from "./program";
import { unpackFunctions, type HalfFormat } from "./packed-programs";

export const TILE = 128;
export type Tile = 64 | 128;
const DEPTH = 16;

export type MatMulLayout = "nn" | "nt";

/**
 * How row-major operands (A, and B in "nt") travel from memory to workgroup memory.
 * v1: thread i reads row i % T: a warp's 32 loads touch 32 rows (32 sectors per load instruction, half of each
 *     unused by that instruction), stored depth-major without bank conflicts.
 * v2: four consecutive threads read one row's 16-deep slice (64 contiguous bytes of float32, 32 of packed), so a
 *     warp touches 8 rows; the depth-major store is XOR-swizzled (vec4 column ^ 2·(k/4 mod 4)) so that those 32
 *     threads, which now share rows, still write 32 distinct banks. The multiply-adds read the same swizzle.
 * On NVIDIA's SMs global loads and workgroup memory share the L1 data path; v1's scattered loads cost about as
 * many L1 wavefronts per slice as the multiply-adds' workgroup reads, v2's about a quarter.
 */
export type MatMulVariant = "v1" | "v2";

/** The swizzle of depth row k (a compile-time constant in the unrolled multiply-adds). */
const swizzle = (k: number) => ((k >> 2) & 3) * 2;

/** Loads of one DEPTH-deep slice into registers (ra/rb) and their stores into workgroup memory. */
function loadSnippets(layout: MatMulLayout, T: Tile, packedB: boolean, variant: MatMulVariant, segmented: boolean): { loadA: string; storeA: string; loadB: string; storeB: string } {
  // A packed B holds each vec4 of the float32 layout as two words (four 16-bit values): same index, widened here.
  // Segmented (several B side by side, see MatMulTiledProgram's `segments`): each vec4 read from the B its output
  // column belongs to (segmentFunctions).
  const readB = (index: string) => (packedB ? `unpack4(B[${index}])` : `B[${index}]`);
  const slots = T / 64; // vec4 loads per thread for a T × 16 slice
  // Row-major [rows, K] operand: thread i of the 4T vec4 slots reads row i % T, k-group i / T, and stores
  // the vector transposed (depth-major), so consecutive threads write consecutive words: no bank conflicts.
  const v2 = variant === "v2";
  const rowOf = v2 ? "slot / 4" : `slot % ${T}`;
  const kGroupOf = v2 ? "(slot % 4) * 4" : `(slot / ${T}) * 4`;
  const rowMajorLoad = (name: string, reg: string, base: string, limit: string) => `
    for (var it = 0; it < ${slots}; it++) {
      let slot = tid + it * 256;
      let r = ${rowOf};
      let k = kBase + ${kGroupOf};
      let row = ${limit === "M" ? "row0" : "col0"} + r;
      if (row < uniforms.${limit} && k < uniforms.K) {
        ${reg}[it] = ${name === "A" ? `A[${base} + row * aRow4 + k / 4]` : segmented ? "loadSegNT(row, k)" : readB(`${base} + row * bRow4 + k / 4`)};
      } else {
        ${reg}[it] = vec4<f32>(0.0);
      }
    }`;
  // v2: every k of this thread's vec4 lies in the same group of four, so one swizzle serves the four stores.
  const column = v2 ? "((r / 4) ^ ((kq / 2) & 6))" : "r / 4";
  const rowMajorStore = (shared: string, reg: string) => `
    for (var it = 0; it < ${slots}; it++) {
      let slot = tid + it * 256;
      let r = ${rowOf};
      let kq = ${kGroupOf};
      for (var c = 0; c < 4; c++) {
        ${shared}[(kq + c) * ${T / 4} + ${column}][r % 4] = ${reg}[it][c];
      }
    }`;
  const loadA = rowMajorLoad("A", "ra", "aBase", "M");
  const storeA = rowMajorStore("As", "ra");
  if (layout === "nt") {
    return { loadA, storeA, loadB: rowMajorLoad("B", "rb", "bBase", "N"), storeB: rowMajorStore("Bs", "rb") };
  }
  // [K, N] operand: 16 rows of T/4 vec4 along N, read and stored as they lie.
  const loadB = `
    for (var it = 0; it < ${slots}; it++) {
      let slot = tid + it * 256;
      let k = kBase + slot / ${T / 4};
      let n = col0 + (slot % ${T / 4}) * 4;
      if (k < uniforms.K && n < uniforms.N) {
        rb[it] = ${segmented ? "loadSegNN(k, n)" : readB("bBase + k * bRow4 + n / 4")};
      } else {
        rb[it] = vec4<f32>(0.0);
      }
    }`;
  const storeB = `
    for (var it = 0; it < ${slots}; it++) {
      let slot = tid + it * 256;
      Bs[slot] = rb[it];
    }`;
  return { loadA, storeA, loadB, storeB };
}

/**
 * The multiply-adds of one slice, unrolled (drivers do not reliably unroll loops over local arrays). Thread (tx, ty)
 * owns rows g·64 + 4ty + (0..3) and columns h·64 + 4tx + (0..3) for g, h < T/64; acc(i, h) holds row i's vec4.
 */
function computeSnippet(T: Tile, layout: MatMulLayout, variant: MatMulVariant): string {
  const v2 = variant === "v2";
  // v2 stores row-major operands swizzled (As always, Bs in "nt"): XOR the vec4 column with the row's swizzle.
  const at = (k: number, g: number, t: string, swizzled: boolean) => {
    const z = swizzled ? swizzle(k) : 0;
    return z ? `${k * (T / 4)} + ((${16 * g} + ${t}) ^ ${z})` : `${k * (T / 4) + 16 * g} + ${t}`;
  };
  const groups = T / 64;
  const lines: string[] = [];
  const comps = ["x", "y", "z", "w"];
  for (let k = 0; k < DEPTH; k++) {
    const loads: string[] = [];
    for (let g = 0; g < groups; g++) loads.push(`let a${g} = As[${at(k, g, "ty", v2)}];`);
    for (let g = 0; g < groups; g++) loads.push(`let b${g} = Bs[${at(k, g, "tx", v2 && layout === "nt")}];`);
    lines.push(`{ ${loads.join(" ")}`);
    for (let i = 0; i < 4 * groups; i++) {
      const a = `a${Math.floor(i / 4)}.${comps[i % 4]}`;
      const fmas: string[] = [];
      for (let h = 0; h < groups; h++) fmas.push(`acc${groups * i + h} = fma(vec4<f32>(${a}), b${h}, acc${groups * i + h});`);
      lines.push(`  ${fmas.join(" ")}`);
    }
    lines.push("}");
  }
  return lines.join("\n");
}

function storeSnippet(vectorOut: boolean, hasBias: boolean, hasResidual: boolean, T: Tile, segmented: boolean): string {
  const biasAt = (index: string) => (!segmented ? `bias[${index}]` : vectorOut ? "segBias(col)" : `segBias(${index})`);
  const groups = T / 64;
  const lines: string[] = [];
  for (let i = 0; i < 4 * groups; i++) {
    const rowExpr = `row0 + ${Math.floor(i / 4) * 64} + ty * 4 + ${i % 4}`;
    lines.push(`{ let row = ${rowExpr}; if (row < uniforms.M) {`);
    for (let h = 0; h < groups; h++) {
      const acc = `acc${groups * i + h}`;
      lines.push(`  { let col = col0 + ${h * 64} + tx * 4;`);
      if (vectorOut) {
        const index = `(cBase + row * cRow + col) / 4`;
        // (acc + bias) + residual: the same two roundings as the separate bias add and residual add.
        const biased = hasBias ? `${acc} + ${biasAt("col / 4")}` : acc;
        const value = hasResidual ? `(${biased}) + residual[${index}]` : biased;
        lines.push(`    if (col < uniforms.N) { result[${index}] = ${value}; } }`);
      } else {
        const index = `cBase + row * cRow + col + c`;
        const biased = hasBias ? `${acc}[c] + ${biasAt("col + c")}` : `${acc}[c]`;
        const value = hasResidual ? `(${biased}) + residual[${index}]` : biased;
        lines.push(`    for (var c = 0; c < 4; c++) { if (col + c < uniforms.N) { result[${index}] = ${value}; } } }`);
      }
    }
    lines.push("} }");
  }
  return lines.join("\n");
}

/** Dense operands: A [M, K], B [N, K] or [K, N], C [M, N] per batch (a batch of 1 broadcasts A or B). */
function denseBases(layout: MatMulLayout, packedB: boolean, split: boolean): string {
  return `
  let aBase = select(0, batch, uniforms.aBatched == 1) * uniforms.M * K4;
  let bBase = select(0, batch, uniforms.bBatched == 1) * uniforms.N * K4${packedB ? " + uniforms.bOffset" : ""};
  let cBase = ${split ? "split" : "batch"} * uniforms.M * uniforms.N;
  let aRow4 = K4;
  let bRow4 = ${layout === "nt" ? "K4" : "N4"};
  let cRow = uniforms.N;`;
}

/**
 * WGSL for a segmented product: segment s covers output columns [start_s, start_s+1) (uniforms seg1, seg2: where the
 * second and third begin; multiples of 4, so that a vec4 of columns lies in one segment) and reads its own B and
 * bias, B_s being [K, w_s] ("nn") or [w_s, K] ("nt"). A workgroup's columns may straddle two segments.
 */
function segmentFunctions(segments: number, packedB: boolean, hasBias: boolean, vectorOut: boolean): string {
  const ids = Array.from({ length: segments }, (_, i) => i);
  const suffix = (i: number) => (i === 0 ? "" : String(i));
  const start = (i: number) => (i === 0 ? "0" : `uniforms.seg${i}`);
  const end = (i: number) => (i === segments - 1 ? "uniforms.N" : `uniforms.seg${i + 1}`);
  // if (s == 0) { … } if (s == 1) { … } return …: the last segment is the fallthrough.
  const pick = (f: (i: number) => string) => ids.map((i) => (i < segments - 1 ? `if (s == ${i}) { return ${f(i)}; }` : `return ${f(i)};`)).join(" ");
  const read = (i: number) => (packedB ? `unpack4(B${suffix(i)}[i])` : `B${suffix(i)}[i]`);
  const segOf = ids.slice(1).reverse().map((i) => `if (n >= uniforms.seg${i}) { return ${i}; }`).join(" ");
  const biasType = vectorOut ? "vec4<f32>" : "f32";
  return `
fn segOf(n : i32) -> i32 { ${segOf} return 0; }
fn segStart(s : i32) -> i32 { ${pick(start)} }
fn segEnd(s : i32) -> i32 { ${pick(end)} }
fn readSegB(s : i32, i : i32) -> vec4<f32> { ${pick(read)} }
// "nn": the vec4 of B_s at depth k and output columns n..n+3.
fn loadSegNN(k : i32, n : i32) -> vec4<f32> {
  let s = segOf(n);
  let first = segStart(s);
  return readSegB(s, k * ((segEnd(s) - first) / 4) + (n - first) / 4);
}
// "nt": the vec4 of B_s's row for output column n, depths k..k+3.
fn loadSegNT(n : i32, k : i32) -> vec4<f32> {
  let s = segOf(n);
  return readSegB(s, (n - segStart(s)) * (uniforms.K / 4) + k / 4);
}
${hasBias ? `fn segBias(col : i32) -> ${biasType} { let s = segOf(col); let i = ${vectorOut ? "(col - segStart(s)) / 4" : "col - segStart(s)"}; ${pick((i) => `bias${suffix(i)}[i]`)} }` : ""}`;
}

/**
 * `live` (the block has work) and `kLimit` (K past which its rows' terms are known zeros) for the causal skip; the
 * loop still runs every tile (its barriers need a uniform bound) but loads and multiplies nothing outside them.
 */
function causalBounds(causal: "scores" | "context", T: number): string {
  if (causal === "scores") return `let live = col0 <= row0 + ${T - 1} + uniforms.past;\n  let kLimit = kStart + kDepth;`;
  return `let live = true;\n  let kLimit = min(kStart + kDepth, row0 + ${T} + uniforms.past);`;
}

// bGroup: consecutive batches of A that share one batch of B (grouped key/value heads: query head h reads kv head
// h / group), 1 otherwise.
// aStart, bStart: where A's and B's first element lies in its buffer (q, k or v within one q|k|v product's rows).
const stridedBases = `
  let aBase = uniforms.aStart / 4 + batch * (uniforms.aBatchStride / 4);
  let bBase = uniforms.bStart / 4 + (batch / uniforms.bGroup) * (uniforms.bBatchStride / 4);
  let cBase = batch * uniforms.cBatchStride;
  let aRow4 = uniforms.aRowStride / 4;
  let bRow4 = uniforms.bRowStride / 4;
  let cRow = uniforms.cRowStride;`;

export class MatMulTiledProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  workgroupSize: [number, number, number] = [256, 1, 1];
  uniforms = "M : i32, N : i32, K : i32, aBatched : i32, bBatched : i32,";

  constructor(
    readonly batch: number,
    readonly M: number,
    readonly N: number,
    readonly layout: MatMulLayout,
    /** Adds a [N] bias to every row of C as it is stored (tf.fused.matMul's bias, one dispatch fewer). */
    readonly hasBias = false,
    /** Block size: 128 (8×8 per thread) or 64 (4×4 per thread) for products that would not fill the GPU. */
    readonly tile: Tile = 128,
    /** Adds a residual of C's own shape as it is stored (the residual stream's add, one dispatch fewer). */
    readonly hasResidual = false,
    /**
     * Batch and row strides (in floats, multiples of 4) from uniforms instead of dense [batch, rows, cols]
     * operands: attention reads q, k, v and writes z in their [pos, head, dHead] layout, with no transposes.
     */
    readonly strided = false,
    /** B holds bfloat16 / float16 pairs (kernels/packed-programs.ts), read as vec2<i32> and widened to float32. */
    readonly packedB: HalfFormat | null = null,
    /** How row-major operands are loaded (see MatMulVariant). */
    readonly variant: MatMulVariant = "v2",
    /**
     * Split-K: 1, or the number of slices of K (uniform kChunk each, a multiple of DEPTH) computed by separate
     * workgroups into a [splits, M, N] block of partial sums that SplitKSumProgram (split-k.ts) adds up. Only for
     * one dense batch with neither bias nor residual (the sum applies them).
     */
    readonly splits = 1,
    /**
     * Several weights side by side in one product: x · [B | B1 | B2] (attention's q, k and v projections), each B
     * and bias its own buffer, the outputs' columns in that order (uniforms seg1, seg2: where B1's and B2's columns
     * start, multiples of 4). The same multiply-adds per output as separate products.
     */
    readonly segments = 1,
    /**
     * Strided attention products of a causal mask (uniform `past`: query row i sees keys ≤ i + past), skipping work
     * whose result is known: "scores" (C = q·kᵀ, keys as columns) leaves a block wholly after its rows' last visible
     * key unloaded and uncomputed and stores zeros there (the mask then makes those entries its minimum either
     * way); "context" (C = pattern · v, keys as K) stops a block's K loop after its rows' last visible key, where
     * the pattern is exactly 0 (x + 0·v = x, so the sums keep their bits). Only where nothing reads or replaces the
     * scores (scores) or the pattern (context), and no query row is wholly masked (its pattern would be uniform).
     */
    readonly causal: "" | "scores" | "context" = "",
  ) {
    if (causal && !strided) throw new Error("MatMulTiledProgram: the causal skip is for strided attention products");
    if (splits > 1 && (batch !== 1 || hasBias || hasResidual || strided)) {
      throw new Error("MatMulTiledProgram: split-K takes one dense batch without bias or residual");
    }
    if (segments > 1 && (batch !== 1 || hasResidual || strided)) {
      throw new Error("MatMulTiledProgram: segments take one dense batch and no residual");
    }
    // A packed B may be a range of rows of a larger weight (a vocabulary chunk): bOffset is its start, in vec2 words.
    if (packedB) this.uniforms += " bOffset : i32,";
    if (strided) this.uniforms += " aBatchStride : i32, aRowStride : i32, bBatchStride : i32, bRowStride : i32, cBatchStride : i32, cRowStride : i32, bGroup : i32, aStart : i32, bStart : i32,";
    if (splits > 1) this.uniforms += " kChunk : i32,";
    for (let i = 1; i < segments; i++) this.uniforms += ` seg${i} : i32,`;
    if (causal) this.uniforms += " past : i32,";
    this.outputShape = [splits > 1 ? splits : batch, M, N];
    this.outputComponent = N % 4 === 0 ? 4 : 1;
    const each = (name: string) => Array.from({ length: segments }, (_, i) => (i === 0 ? name : `${name}${i}`));
    this.variableNames = [
      "A", ...each("B"), ...(hasBias ? each("bias") : []), ...(hasResidual ? ["residual"] : []),
    ];
    this.variableComponents = [
      4, ...each("B").map(() => (packedB ? 2 : 4)), ...(hasBias ? each("bias").map(() => this.outputComponent) : []), ...(hasResidual ? [this.outputComponent] : []),
    ];
    this.dispatch = [Math.ceil(N / tile), Math.ceil(M / tile), splits > 1 ? splits : batch];
    this.shaderKey = `lmprobeMatMul${tile}_${layout}_${this.outputComponent}_${hasBias}_${hasResidual}_${strided}_${packedB ?? "f32"}_${variant}${splits > 1 ? "_splitK" : ""}${segments > 1 ? `_seg${segments}` : ""}${causal ? `_causal${causal}` : ""}`;
  }

  getUserCode(): string {
    const T = this.tile;
    const segmented = this.segments > 1;
    const s = loadSnippets(this.layout, T, this.packedB != null, this.variant, segmented);
    const vectorOut = this.outputComponent === 4;
    const slots = T / 64;
    const split = this.splits > 1;
    // A split-K workgroup (one dense batch) takes slice workgroupId.z of K; otherwise z is the batch, K whole.
    const kRange = split
      ? `let batch = 0;
  let split = i32(workgroupId.z);
  let kStart = split * uniforms.kChunk;
  let kDepth = uniforms.kChunk;`
      : `let batch = i32(workgroupId.z);
  let kStart = 0;
  let kDepth = uniforms.K;`;
    const accDecl = Array.from({ length: slots * slots * 4 }, (_, i) => `var acc${i} = vec4<f32>(0.0);`).join(" ");
    // The causal skip's conditions wrap loads and multiply-adds; without it the code is as it was.
    const causal = this.causal !== "";
    const gate = (condition: string, code: string) => (causal ? `if (${condition}) {
    ${code}
  }` : code);
    return `${this.packedB ? unpackFunctions(this.packedB) : ""}
${segmented ? segmentFunctions(this.segments, this.packedB != null, this.hasBias, vectorOut) : ""}
var<workgroup> As : array<vec4<f32>, ${(DEPTH * T) / 4}>;
var<workgroup> Bs : array<vec4<f32>, ${(DEPTH * T) / 4}>;

fn main() {
  let tid = i32(localIndex);
  let tx = tid % 16;
  let ty = tid / 16;
  ${kRange}
  let row0 = i32(workgroupId.y) * ${T};
  let col0 = i32(workgroupId.x) * ${T};
  let K4 = uniforms.K / 4;
  let N4 = uniforms.N / 4;
  ${this.strided ? stridedBases : denseBases(this.layout, this.packedB != null, split)}
  ${accDecl}
  var ra : array<vec4<f32>, ${slots}>;
  var rb : array<vec4<f32>, ${slots}>;
  // A K-slice is whole DEPTH-deep tiles, so no tile crosses into the next slice. Every slice runs kChunk / DEPTH
  // tiles, the last one too (its loads past K read zeros): the loop's bound must be uniform (it holds barriers), and
  // workgroupId is not uniform to WGSL's analysis here.
  let tiles = (kDepth + ${DEPTH - 1}) / ${DEPTH};

  ${this.causal ? causalBounds(this.causal, T) : ""}
  var kBase = kStart;
  ${gate("live", `${s.loadA}
  ${s.loadB}`)}
  ${s.storeA}
  ${s.storeB}
  workgroupBarrier();
  for (var t = 0; t < tiles; t++) {
    ${causal ? "let kCur = kBase;" : ""}
    kBase = kStart + (t + 1) * ${DEPTH};
    let more = t + 1 < tiles;
    if (${causal ? "more && live && kBase < kLimit" : "more"}) {
      ${s.loadA}
      ${s.loadB}
    }
    ${gate("live && kCur < kLimit", computeSnippet(T, this.layout, this.variant))}
    workgroupBarrier();
    if (more) {
      ${s.storeA}
      ${s.storeB}
    }
    workgroupBarrier();
  }
  ${storeSnippet(vectorOut, this.hasBias, this.hasResidual, T, segmented)}
}
`;
  }
}
