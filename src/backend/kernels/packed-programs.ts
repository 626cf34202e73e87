// WGSL programs that read weights kept as stored in the checkpoint: bfloat16 or float16, two values per 32-bit
// word (the earlier element in the low half, as the little-endian file lays them out), each row padded to a whole
// word when its length is odd. The values are widened to float32 in registers and all arithmetic is float32, so
// the products are those of a float32 matmul over the same 16-bit values (what the reference computes).
//
// Widening is exact for both formats: bfloat16 is the top half of a float32 (a shift); float16 is rebuilt from
// its fields here rather than with unpack2x16float, whose handling of subnormals WGSL leaves to the platform.
// shader-f16 is not needed for either: no arithmetic is done in half precision.
import type { WebgpuProgram } from "./program";

export type HalfFormat = "bf16" | "f16";

/** WGSL: widen(h) for one 16-bit pattern in the low bits of h, unpack2(w) / unpack4(w2) for one / two words. */
export function unpackFunctions(format: HalfFormat): string {
  const widen =
    format === "bf16"
      ? `fn widen(h : u32) -> f32 { return bitcast<f32>(h << 16u); }`
      : `fn widen(h : u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    // zero or subnormal: m × 2^-24, exact in float32
    return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8));
  }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}`;
  return `${widen}
fn unpack2(w : i32) -> vec2<f32> {
  let u = bitcast<u32>(w);
  return vec2<f32>(widen(u & 0xffffu), widen(u >> 16u));
}
fn unpack4(w : vec2<i32>) -> vec4<f32> {
  return vec4<f32>(unpack2(w.x), unpack2(w.y));
}`;
}

const GROUP = 64;
/** Rows of x each thread of the plain product takes: each weight value read is used for all of them. */
const ROWS = 4;
/** Workgroups per dispatch dimension (WebGPU's guaranteed minimum limit). */
const MAX_GROUPS = 65535;

/**
 * x [M, K] · W (from stored row `offset` of B's words) for any sizes (the tiled kernel takes large aligned ones): "nn" reads W stored [K, N] packed along
 * N, one thread per output pair (coalesced reads of each weight row); "nt" reads W stored [N, K] packed along K,
 * one thread per output column. Each thread takes ROWS rows of x, so each weight value read serves ROWS products.
 * Used for few rows (decoding, short prompts) and odd sizes.
 */
export class PackedMatMulProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  variableNames = ["A", "B"];
  workgroupSize: [number, number, number] = [GROUP, 1, 1];
  uniforms = "M : i32, N : i32, K : i32, words : i32, offset : i32,";

  constructor(
    readonly M: number,
    readonly N: number,
    readonly K: number,
    readonly layout: "nn" | "nt",
    readonly format: HalfFormat,
  ) {
    this.outputShape = [M, N];
    const threadsPerRow = layout === "nn" ? Math.ceil(N / 2) : N;
    const groups = Math.ceil((threadsPerRow * Math.ceil(M / ROWS)) / GROUP);
    this.dispatch = [Math.min(groups, MAX_GROUPS), Math.ceil(groups / MAX_GROUPS), 1];
    this.shaderKey = `lmprobePackedMatMul_${layout}_${format}`;
  }

  /** Words per stored row of B. */
  get words(): number {
    return this.layout === "nn" ? Math.ceil(this.N / 2) : Math.ceil(this.K / 2);
  }

  getUserCode(): string {
    const rows = Array.from({ length: ROWS }, (_, r) => r);
    // Rows past M repeat row M − 1 (valid reads, results not stored), so the hot loop has no branches.
    const prelude = `
  let flat = i32((workgroupId.y * numWorkgroups.x + workgroupId.x) * ${GROUP}u + localIndex);
  let perRow = ${this.layout === "nn" ? "uniforms.words" : "uniforms.N"};
  let m0 = (flat / perRow) * ${ROWS};
  let j = flat % perRow;
  if (m0 >= uniforms.M) { return; }
  ${rows.map((r) => `let a${r} = min(m0 + ${r}, uniforms.M - 1) * uniforms.K;`).join(" ")}
  let B0 = uniforms.offset * uniforms.words;
  ${rows.map((r) => `var acc${r} = vec2<f32>(0.0);`).join(" ")}`;
    const store = (index: (r: number) => string, value: (r: number) => string, extra = "") =>
      rows.map((r) => `if (m0 + ${r} < uniforms.M${extra}) { result[${index(r)}] = ${value(r)}; }`).join("\n  ");
    const body =
      this.layout === "nn"
        ? `
  for (var k = 0; k < uniforms.K; k++) {
    let b = unpack2(B[B0 + k * uniforms.words + j]);
    ${rows.map((r) => `acc${r} = fma(vec2<f32>(A[a${r} + k]), b, acc${r});`).join(" ")}
  }
  let n = 2 * j;
  ${store((r) => `(m0 + ${r}) * uniforms.N + n`, (r) => `acc${r}.x`)}
  ${store((r) => `(m0 + ${r}) * uniforms.N + n + 1`, (r) => `acc${r}.y`, " && n + 1 < uniforms.N")}`
        : `
  let bRow = B0 + j * uniforms.words;
  let pairs = uniforms.K / 2;
  for (var w = 0; w < pairs; w++) {
    let b = unpack2(B[bRow + w]);
    ${rows.map((r) => `acc${r} = fma(vec2<f32>(A[a${r} + 2 * w], A[a${r} + 2 * w + 1]), b, acc${r});`).join(" ")}
  }
  let odd = uniforms.K % 2 == 1;
  let last = select(0.0, unpack2(B[bRow + min(pairs, uniforms.words - 1)]).x, odd);
  ${rows.map((r) => `let s${r} = select(acc${r}.x + acc${r}.y, fma(A[a${r} + uniforms.K - 1], last, acc${r}.x + acc${r}.y), odd);`).join("\n  ")}
  ${store((r) => `(m0 + ${r}) * uniforms.N + j`, (r) => `s${r}`)}`;
    return `
${unpackFunctions(this.format)}
fn main() {${prelude}${body}
}
`;
  }
}

/**
 * Widens a packed matrix stored [rows, cols] (from row `offset` of its words) to float32: whole ([rows, cols]), transposed ([cols, rows]), or the
 * rows named by int32 `ids` ([n, cols], an embedding lookup; an id outside [0, rows) gives a row of zeros, as
 * tfjs-webgpu's gather does).
 */
export class UnpackProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number] = [256, 1, 1];
  uniforms = "rows : i32, cols : i32, words : i32, total : i32, outCols : i32, offset : i32,";

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly format: HalfFormat,
    readonly mode: "whole" | "transposed" | "ids",
    ids = 0,
  ) {
    this.outputShape = mode === "transposed" ? [cols, rows] : [mode === "ids" ? ids : rows, cols];
    this.variableNames = mode === "ids" ? ["W", "ids"] : ["W"];
    const groups = Math.ceil((this.outputShape[0] * this.outputShape[1]) / 256);
    this.dispatch = [Math.min(Math.max(groups, 1), MAX_GROUPS), Math.max(1, Math.ceil(groups / MAX_GROUPS)), 1];
    this.shaderKey = `lmprobeUnpack_${format}_${mode}`;
  }

  getUserCode(): string {
    const coords =
      this.mode === "transposed"
        ? `let row = c; let col = r;`
        : this.mode === "ids"
          ? `let row = ids[r]; let col = c;
  if (row < 0 || row >= uniforms.rows) { result[index] = 0.0; return; }`
          : `let row = r; let col = c;`;
    return `
${unpackFunctions(this.format)}
fn main() {
  let index = i32((workgroupId.y * numWorkgroups.x + workgroupId.x) * 256u + localIndex);
  if (index >= uniforms.total) { return; }
  let r = index / uniforms.outCols;
  let c = index % uniforms.outCols;
  ${coords}
  let pair = unpack2(W[(uniforms.offset + row) * uniforms.words + col / 2]);
  result[index] = select(pair.x, pair.y, col % 2 == 1);
}
`;
  }
}
