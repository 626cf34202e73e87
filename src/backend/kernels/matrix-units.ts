// Products with packed (bf16 / f16) weights on the GPU's matrix units (through Dawn's
// chromium-experimental-subgroup-matrix: Vulkan's cooperative matrices, Metal's simdgroup matrices), near float32
// accuracy, where the adapter offers an f16 × f16 → f32 shape. On NVIDIA's Vulkan driver Dawn offers such shapes only
// with its vulkan_enable_f16_on_nvidia toggle (probe-webgpu.ts sets it unless LMPROBE_MATRIX_UNITS=off): without it an
// H100 listed 8-bit integer shapes only (bench/results/gpu-h100/matrix-units/); with it H100 and H200 list
// 16×16×16 f16 → f32 (driver 580, the Dawn of webgpu 0.6.2).
//
// The matrix units multiply half-precision operands exactly and add in float32. A weight stored as bf16 or f16 is
// a half value already (a bf16 value is an f16 one wherever its exponent lies in f16's normal range, |w| ≥ 2^-14;
// below that it rounds to f16's subnormal grid, an absolute error ≤ 2^-25 per weight). The float32 activation x is
// what needs care: each row is scaled by a power of two (RowShiftProgram: its largest |x| into [2^14, 2^15), so
// nothing overflows and small values keep their bits; exact) and split into half-precision terms: h0 = x's leading
// 11 significant bits (its low 13 mantissa bits cleared), then with two terms h1 = f16(x − h0) (at most 2^-22 of x
// left out), with three h1 = the next 11 bits of x − h0 and h2 the rest (x's 24 bits leave at most 2: exact). Each
// difference is exact in float32 and each masked term exactly an f16 value in f16's normal range (below it, f16's
// subnormal grid costs at most 2^-24 per term, 2^-38 of the row's largest value). So x·w = Σ h_t·w up to what the
// units' float32 accumulation loses: on an H100 and an H200, 1.2e-6 to 1.1e-5 of Σ|x||w| against the tiled
// kernel's 2e-7 to 1.3e-6, the same for two terms and three (bench/results/gpu-h*/matrix-units-split-fix/), so two
// is the default.
//
// Blocks of C: each subgroup computes rm × rn result matrices of the unit's shape (cm × cn, e.g. 16 × 16), the
// workgroup sgm × sgn subgroups (UnitTile); A's terms and B (widened, then narrowed to f16) are staged tk deep in workgroup
// memory, where the subgroups load their operands. The epilogue goes through workgroup memory, one result matrix
// per subgroup at a time, to undo the row's scale and add the bias and residual per element.
import { ArgumentError } from "../../errors";
import type { WebgpuProgram } from "./program";
import { unpackFunctions, type HalfFormat } from "./packed-programs";
import type { MatMulLayout } from "./matmul";

/** One matrix-unit shape of the adapter: an M×K (f16) times K×N (f16) product accumulated in an M×N f32 matrix. */
export interface MatrixUnitShape {
  M: number;
  N: number;
  K: number;
}

/** What the device offers, set when lmprobe creates it (webgpu.ts); `shape` null: no usable matrix units. */
export const matrixUnits: { shape: MatrixUnitShape | null; subgroupSize: number; workgroupStorage: number; reason: string } = {
  shape: null,
  subgroupSize: 0,
  workgroupStorage: 0,
  reason: "no webgpu device yet",
};

/** The Dawn feature that exposes matrix units. */
export const MATRIX_UNIT_FEATURE = "chromium-experimental-subgroup-matrix";

interface AdapterInfoLike {
  vendor?: string;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  subgroupMatrixConfigs?: Iterable<{ componentType: string; resultComponentType: string; M: number; N: number; K: number }>;
}

/**
 * The f16 × f16 → f32 shape lmprobe would use on this adapter, or why none: the feature and shader-f16 must be
 * offered, subgroups of one fixed size (a subgroup's index is its invocations' index / that size), and a shape
 * whose sides are 8 or 16 (the staging below assumes they divide 32). The first such shape the adapter lists is
 * its preferred one. By default (mode "auto") only adapters of the vendors they were verified on use them.
 */
export function chooseMatrixUnitShape(
  features: ReadonlySet<string> | { has(f: string): boolean },
  info: AdapterInfoLike,
  mode: MatrixUnitMode = matrixUnitMode(),
): { shape: MatrixUnitShape; subgroupSize: number } | { reason: string } {
  if (mode === "off") return { reason: "turned off (LMPROBE_MATRIX_UNITS=off)" };
  if (!features.has(MATRIX_UNIT_FEATURE)) return { reason: `the adapter does not offer ${MATRIX_UNIT_FEATURE}` };
  const offered = [...(info.subgroupMatrixConfigs ?? [])].map((c) => `${c.componentType} → ${c.resultComponentType} ${c.M}×${c.N}×${c.K}`).join(", ") || "none";
  if (!features.has("shader-f16")) return { reason: `the adapter does not offer shader-f16 (its matrix shapes: ${offered})` };
  const min = info.subgroupMinSize ?? 0;
  const max = info.subgroupMaxSize ?? 0;
  if (!min || min !== max) return { reason: `subgroup size varies (${min}–${max})` };
  for (const c of info.subgroupMatrixConfigs ?? []) {
    const sidesFit = [c.M, c.N, c.K].every((s) => s === 8 || s === 16);
    if (c.componentType === "f16" && c.resultComponentType === "f32" && sidesFit) {
      if (mode === "auto" && !VERIFIED_VENDORS.test(info.vendor ?? "")) {
        return { reason: `${c.M}×${c.N}×${c.K} f16 → f32 offered, not used by default on this adapter (vendor "${info.vendor ?? ""}"; verified on NVIDIA's): LMPROBE_MATRIX_UNITS=on uses them` };
      }
      return { shape: { M: c.M, N: c.N, K: c.K }, subgroupSize: max };
    }
  }
  return { reason: `no f16 × f16 → f32 matrix shape with sides of 8 or 16 (its matrix shapes: ${offered})` };
}

/**
 * LMPROBE_MATRIX_UNITS: "auto" (unset: on adapters of the vendor their numbers were checked on, NVIDIA: on an H100
 * `lmprobe verify` passed on 25 bf16 fixtures with all 5854 packed products on them, and products on an H100 and an
 * H200 were within 1.1e-5 of Σ|x||w| of float64, bench/results/gpu-h100/, gpu-h200/), "on" (on any
 * adapter that offers an f16 shape), "all" (every product with packed weights, whatever its size: for checking
 * their numbers on small fixtures, as bench/gpu/verify-bf16.sh does), "features" (the device created as for the
 * units, no product on them: what the features alone cost) or "off".
 */
export type MatrixUnitMode = "auto" | "on" | "all" | "features" | "off";

export function matrixUnitMode(env: NodeJS.ProcessEnv = process.env): MatrixUnitMode {
  const value = env.LMPROBE_MATRIX_UNITS;
  if (value === undefined || value === "" || value === "auto") return "auto";
  if (value === "on" || value === "1") return "on";
  if (value === "off" || value === "0") return "off";
  if (value === "all" || value === "features") return value;
  throw new ArgumentError("LMPROBE_MATRIX_UNITS", `is "${value}": expected auto, on, off, all or features`, "unset it to use the matrix units where they were verified");
}

/** Whether the device is created for the matrix units (their Dawn toggles and feature): unless turned off. */
export function matrixUnitsRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return matrixUnitMode(env) !== "off";
}

/** Adapters on which the units are used without LMPROBE_MATRIX_UNITS=on: those of the vendors they were verified on. */
const VERIFIED_VENDORS = /nvidia/i;

/**
 * Whether products use the matrix units now: the device has them, and the mode (read at each call, so a process
 * started with them can compare by setting LMPROBE_MATRIX_UNITS=off for some calls) uses them.
 */
export function matrixUnitsEnabled(): boolean {
  const mode = matrixUnitMode();
  return matrixUnits.shape !== null && mode !== "off" && mode !== "features";
}

/** LMPROBE_MATRIX_UNITS=all: every packed product on the units, not only those of unitTiling's sizes. */
function everyProductOnUnits(): boolean {
  return matrixUnitMode() === "all";
}

/**
 * Products run on the units since the process started (lmprobe verify reports it where it is not 0); `joint`: those
 * of several weights side by side (kernels/segmented.ts), counted in `products` too.
 */
export const matrixUnitUse = { products: 0, joint: 0 };

/**
 * Half-precision terms of each activation: 2 unless LMPROBE_MATRIX_UNIT_TERMS says 1 or 3. Two leave at most 2^-22
 * of each value out; on an H200 (bench/results/gpu-h200/matrix-units-split-fix/) two and three terms gave the same
 * error against float64 (1.2e-6 to 1.1e-5 of Σ|x||w|, the units' own float32 accumulation; one term 0.7–2.8e-4) and
 * two ran 1.0–1.8× faster.
 */
export function matrixUnitTerms(): 1 | 2 | 3 {
  const value = process.env.LMPROBE_MATRIX_UNIT_TERMS;
  if (value === undefined || value === "" || value === "2") return 2;
  if (value === "1" || value === "3") return Number(value) as 1 | 3;
  throw new ArgumentError("LMPROBE_MATRIX_UNIT_TERMS", `is "${value}": expected 1, 2 or 3`, "unset it for two terms");
}

/**
 * How A's terms and B sit in workgroup memory before the units load them: "halves" as array<f16>, one 16-bit store
 * per value, with the subgroupMatrixLoad(p, offset, col_major, stride) form this Dawn marks deprecated; "words" as
 * vec2<u32>, four halves per store, with the current subgroupMatrixLoad<T, majorness>(p, offset, stride) form, which
 * reinterprets the words as halves (offsets and strides counted in vec2s). The same halves land in the same places
 * and are multiplied in the same order: the same bits (on an H100, bench/results/gpu-h100/units-anatomy/).
 * LMPROBE_MATRIX_UNIT_STAGING picks one; unset, DEFAULT_UNIT_STAGING.
 */
export type UnitStaging = "words" | "halves";

/**
 * The staging whose speed was measured in whole models on an H100 and an H200: "halves". "words" has its bits; its
 * speed is not settled (bench/results/gpu-h100/units-anatomy/: as fast on five of seven products, far slower on the
 * two with the large tile and no split, in a call whose per-dispatch timings look bound by the GPU's clocks).
 */
export const DEFAULT_UNIT_STAGING: UnitStaging = "halves";

export function unitStaging(env: NodeJS.ProcessEnv = process.env): UnitStaging {
  const value = env.LMPROBE_MATRIX_UNIT_STAGING;
  if (value === undefined || value === "" || value === "auto") return DEFAULT_UNIT_STAGING;
  if (value === "words" || value === "halves") return value;
  throw new ArgumentError("LMPROBE_MATRIX_UNIT_STAGING", `is "${value}": expected words or halves`, `unset it for lmprobe's default (${DEFAULT_UNIT_STAGING})`);
}

/**
 * How a workgroup's block of C is cut: sgm × sgn subgroups along M and N, each computing rm × rn result matrices of
 * the unit's shape, over staged slices of K `tk` deep.
 */
export interface UnitTile {
  sgm: number;
  sgn: number;
  rm: number;
  rn: number;
  tk: number;
}
/**
 * Block sizes: "large" for products with many blocks, "small" otherwise. Chosen from a sweep of nine tiles on an
 * H100 (bench/results/gpu-h100/matrix-units-tiles/, two terms, each against the tiled kernel in the same rounds):
 * 128 × 256 blocks of 8 subgroups of 64 × 64 were the fastest on every product with ≥ 56 such blocks (Llama-3.1-8B's
 * q/o, MLP and lens at 1024 rows 0.59–0.63 of the tiled kernel's time, where the earlier 128 × 128 blocks of 8
 * subgroups took 0.77–0.87), and 128 × 128 blocks of 16 subgroups of 32 × 32 on those with ≤ 32 (q/o at 128 rows
 * 0.44, GPT-2's MLP down at 1024 rows 0.42): more subgroups hide more latency where blocks are few. Each size falls
 * back to smaller tiles where its workgroup memory does not fit (three terms, or a device with less).
 */
export type UnitBlocks = "large" | "small";
const TILES: Record<UnitBlocks, UnitTile[]> = {
  large: [
    { sgm: 2, sgn: 4, rm: 4, rn: 4, tk: 32 }, // 128 × 256, 8 subgroups of 64 × 64
    { sgm: 4, sgn: 2, rm: 2, rn: 4, tk: 32 }, // 128 × 128, 8 subgroups of 32 × 64
    { sgm: 2, sgn: 1, rm: 2, rn: 4, tk: 32 }, // 64 × 64, 2 subgroups
  ],
  small: [
    { sgm: 4, sgn: 4, rm: 2, rn: 2, tk: 32 }, // 128 × 128, 16 subgroups of 32 × 32
    { sgm: 4, sgn: 2, rm: 2, rn: 4, tk: 32 },
    { sgm: 2, sgn: 1, rm: 2, rn: 4, tk: 32 },
  ],
};

/**
 * The tiles of a block size, in order of preference. LMPROBE_MATRIX_UNIT_TILE="sgm,sgn,rm,rn,tk" replaces them all
 * (for bench/gpu/matrix-units.mjs's sweep of tiles; a malformed value is an error, not ignored).
 */
export function unitTiles(blocks: UnitBlocks): UnitTile[] {
  const value = process.env.LMPROBE_MATRIX_UNIT_TILE;
  if (!value) return TILES[blocks];
  const parts = value.split(",").map(Number);
  if (parts.length !== 5 || !parts.every((v) => Number.isInteger(v) && v > 0) || parts[4] % 16 !== 0) {
    throw new ArgumentError("LMPROBE_MATRIX_UNIT_TILE", `is "${value}": expected five positive integers "sgm,sgn,rm,rn,tk" with tk a multiple of 16 (e.g. "4,2,2,4,32")`, "unset it for lmprobe's tiles");
  }
  const [sgm, sgn, rm, rn, tk] = parts;
  return [{ sgm, sgn, rm, rn, tk }];
}

/** The preferred tile of a block size. */
export function unitTile(blocks: UnitBlocks): UnitTile {
  return unitTiles(blocks)[0];
}

/** The C block (rows × columns) a workgroup computes. */
export function unitBlock(shape: MatrixUnitShape, tile: UnitTile, subgroupSize = matrixUnits.subgroupSize): { rows: number; cols: number; threads: number } {
  return { rows: tile.sgm * tile.rm * shape.M, cols: tile.sgn * tile.rn * shape.N, threads: tile.sgm * tile.sgn * subgroupSize };
}

/** Halves of padding per staged row in workgroup memory (getUserCode). */
const PAD = 8;

/** Workgroup memory (bytes) the product needs: A's terms and B in f16 (padded rows), one f32 result matrix per subgroup. */
export function unitWorkgroupBytes(shape: MatrixUnitShape, tile: UnitTile, terms: number): number {
  const { rows, cols } = unitBlock(shape, tile);
  const bHalves = Math.max(cols * (tile.tk + PAD), tile.tk * (cols + PAD)); // B as [cols, TK] ("nt") or [TK, cols]
  return 2 * (terms * rows * (tile.tk + PAD) + bHalves) + 4 * tile.sgm * tile.sgn * shape.M * shape.N;
}

/** Whether a tile's staging divides evenly among its threads (each loads whole vec4 slots of A and B). */
export function unitTileFits(shape: MatrixUnitShape, tile: UnitTile, subgroupSize = matrixUnits.subgroupSize): boolean {
  const { rows, cols, threads } = unitBlock(shape, tile, subgroupSize);
  return tile.tk % shape.K === 0 && ((rows * tile.tk) / 4) % threads === 0 && ((cols * tile.tk) / 4) % threads === 0;
}

/**
 * Per row of A [M, K]: the power of two (its exponent, as a float) that puts the row's largest |x| in
 * [2^14, 2^15): scaled, the row's values fit f16 with room to spare and small ones stay above f16's subnormals as
 * long as they can. A row of zeros (or without a finite maximum) gets 0.
 */
export class RowShiftProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey = "lmprobeRowShift";
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  variableNames = ["A"];
  variableComponents = [4];
  outputComponent = 1;
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = "M : i32, K : i32,";

  constructor(readonly M: number) {
    this.outputShape = [M];
    this.dispatch = [M, 1, 1];
  }

  getUserCode(): string {
    return `
var<workgroup> partial : array<f32, 64>;
// A one-dimensional dispatch layout: tfjs passes the flat invocation index, unused here (one workgroup per row).
fn main(index : i32) {
  let row = i32(workgroupId.x);
  let tid = i32(localIndex);
  let K4 = uniforms.K / 4;
  var top = 0.0;
  for (var i = tid; i < K4; i += 64) {
    let v = abs(A[row * K4 + i]);
    top = max(top, max(max(v.x, v.y), max(v.z, v.w)));
  }
  partial[tid] = top;
  workgroupBarrier();
  for (var s = 32; s > 0; s = s / 2) {
    if (tid < s) { partial[tid] = max(partial[tid], partial[tid + s]); }
    workgroupBarrier();
  }
  if (tid == 0) {
    let m = partial[0];
    var shift = 0;
    // m = f · 2^e with f in [0.5, 1): m · 2^(15 − e) lies in [2^14, 2^15).
    if (m > 0.0 && m <= 3.4028234e38) { shift = clamp(15 - frexp(m).exp, -120, 120); }
    result[row] = f32(shift);
  }
}`;
  }
}

/**
 * C [splits, M, N] = A [M, K] · B with B a packed weight ("nt": [N, K] rows, "nn": [K, N]; from stored word
 * `bOffset`), bias and residual added as it is stored (none with split-K: the sum adds them, split-k.ts).
 * Inputs: A (vec4), B (vec2<i32> words), shifts ([M], RowShiftProgram), then bias and residual when present.
 * With `segments` > 1, B is that many weights side by side, B0 | B1 | B2 (inputs B0…, each its own buffer from word
 * 0; uniforms seg1 and seg2 give the columns where the second and third begin): every segment's width must be a
 * multiple of the block's columns, so that a workgroup reads one weight (a uniform branch) and each output column
 * is the same multiply-adds as in its weight's own product.
 */
export class MatMulUnitsProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [2], y: [1], z: [0] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent = 1;
  workgroupSize: [number, number, number];
  uniforms = "M : i32, N : i32, K : i32, bOffset : i32, kChunk : i32,";

  constructor(
    readonly M: number,
    readonly N: number,
    readonly layout: MatMulLayout,
    readonly format: HalfFormat,
    readonly hasBias: boolean,
    readonly hasResidual: boolean,
    readonly splits: number,
    readonly tile: UnitTile,
    readonly shape: MatrixUnitShape,
    readonly terms: 1 | 2 | 3,
    readonly subgroupSize: number,
    readonly segments = 1,
    readonly staging: UnitStaging = unitStaging(),
  ) {
    if (splits > 1 && (hasBias || hasResidual)) throw new Error("MatMulUnitsProgram: split-K adds bias and residual in its sum");
    if (!Number.isInteger(segments) || segments < 1 || segments > 3) throw new Error(`MatMulUnitsProgram: ${segments} segments (1 to 3)`);
    const { rows, cols, threads } = unitBlock(shape, tile, subgroupSize);
    this.workgroupSize = [threads, 1, 1];
    this.outputShape = [splits, M, N];
    this.dispatch = [Math.ceil(N / cols), Math.ceil(M / rows), splits];
    const weights = segments === 1 ? ["B"] : Array.from({ length: segments }, (_, i) => `B${i}`);
    this.variableNames = ["A", ...weights, "shifts", ...(hasBias ? ["bias"] : []), ...(hasResidual ? ["residual"] : [])];
    this.variableComponents = [4, ...weights.map(() => 2), 1, ...(hasBias ? [1] : []), ...(hasResidual ? [1] : [])];
    if (segments > 1) this.uniforms += " seg1 : i32, seg2 : i32,";
    const s = `${shape.M}x${shape.N}x${shape.K}`;
    this.shaderKey = `lmprobeMatMulUnits_${layout}_${format}_${hasBias}_${hasResidual}_${splits > 1}_${tile.sgm}.${tile.sgn}.${tile.rm}.${tile.rn}.${tile.tk}_${s}_${terms}_${subgroupSize}_${segments}_${staging}`;
  }

  getUserCode(): string {
    const { M: cm, N: cn, K: ck } = this.shape;
    const { sgm, sgn, rm: RM, rn: RN, tk: TK } = this.tile;
    const { rows: TM, cols: TN, threads } = unitBlock(this.shape, this.tile, this.subgroupSize);
    const terms = this.terms;
    const nt = this.layout === "nt";
    const accs: string[] = [];
    for (let i = 0; i < RM; i++) for (let j = 0; j < RN; j++) accs.push(`acc${i}_${j}`);
    // Staging: A's TM × TK floats as vec4 slots, each split into `terms` halves; B's TN × TK (or TK × TN) values.
    // Rows in workgroup memory are padded by PAD = 8 halves (16 bytes), so that the 16 rows a matrix load reads do not
    // fall on the same banks. The next slice's global values are loaded into registers while the units work on
    // this one (WGSL has no asynchronous copy into workgroup memory).
    const aSlots = (TM * TK) / 4 / threads;
    const bSlots = (TN * TK) / 4 / threads;
    const aStride = TK + PAD;
    const bStride = nt ? TK + PAD : TN + PAD;
    const aTerm = TM * aStride;
    // "words": workgroup memory is an array of vec2<u32>, four halves each, written one vec2 (a staging slot's four
    // values) per store where "halves" wrote four 16-bit stores; the matrix loads reinterpret the words as f16
    // (offsets and strides then count vec2s: every offset and stride here is a multiple of 4 halves). The same
    // halves land in the same places, so both give the same bits.
    const words = this.staging === "words";
    const unit = words ? 4 : 1;
    const el = (halves: number | string) => (words ? `(${halves}) / 4` : `${halves}`);
    const comps = ["x", "y", "z", "w"];
    const storeA = Array.from({ length: terms }, (_, t) =>
      words ? `As[(${t * aTerm} + base) / 4] = bitcast<vec2<u32>>(h${t});` : comps.map((c, ci) => `As[${t * aTerm} + base + ${ci}] = h${t}.${c};`).join(" "),
    ).join("\n      ");
    // Each term is cut from the float32 value by clearing its low 13 mantissa bits (halfHead), not by rounding to
    // f16 and back: an NVIDIA driver folded x − f32(f16(x)) to 0 (the H200 gave 2 and 3 terms the 1-term error,
    // bench/results/gpu-h200/matrix-units-f16-toggle/), and a bit mask has nothing to fold.
    const splitA = [
      terms > 1 ? "let t0 = halfHead(x); let h0 = vec4<f16>(t0);" : "let h0 = vec4<f16>(x);",
      ...(terms > 1 ? ["let r1 = x - t0;", terms > 2 ? "let t1 = halfHead(r1); let h1 = vec4<f16>(t1);" : "let h1 = vec4<f16>(r1);"] : []),
      ...(terms > 2 ? ["let h2 = vec4<f16>(r1 - t1);"] : []),
    ].join(" ");
    const slots = (n: number) => Array.from({ length: n }, (_, it) => it);
    // One weight's word at (column, k): index(column, words per row of an "nn" weight). Segments: the block's weight
    // (seg, uniform in the workgroup) at the column's place within it (col − segStart).
    const segments = this.segments;
    const readB = (it: number, index: (col: string, n4: string) => string) =>
      segments === 1
        ? `wb${it} = B[uniforms.bOffset + ${index("col", "N4")}];`
        : Array.from({ length: segments }, (_, i) => `${i ? "else " : ""}${i < segments - 1 ? `if (seg == ${i}) ` : ""}{ wb${it} = B${i}[${index("(col - segStart)", "segN4")}]; }`).join(" ");
    const declare = [...slots(aSlots).map((it) => `var xa${it} = vec4<f32>(0.0);`), ...slots(bSlots).map((it) => `var wb${it} = vec2<i32>(0);`)].join(" ");
    // Global → registers for the slice at kBase (zeros past K and past the edges of A and B).
    const load = [
      ...slots(aSlots).map((it) => `{
      let slot = tid + ${it * threads};
      let row = row0 + slot / ${TK / 4};
      let k = kBase + (slot % ${TK / 4}) * 4;
      xa${it} = vec4<f32>(0.0);
      if (row < uniforms.M && k < kEnd) { xa${it} = A[row * K4 + k / 4]; }
    }`),
      ...slots(bSlots).map((it) =>
        nt
          ? `{
      let slot = tid + ${it * threads};
      let col = col0 + slot / ${TK / 4};
      let k = kBase + (slot % ${TK / 4}) * 4;
      wb${it} = vec2<i32>(0);
      if (col < uniforms.N && k < kEnd) { ${readB(it, (c) => `${c} * K4 + k / 4`)} }
    }`
          : `{
      let slot = tid + ${it * threads};
      let k = kBase + slot / ${TN / 4};
      let col = col0 + (slot % ${TN / 4}) * 4;
      wb${it} = vec2<i32>(0);
      if (k < kEnd && col < uniforms.N) { ${readB(it, (c, n4) => `k * ${n4} + ${c} / 4`)} }
    }`,
      ),
    ].join("\n    ");
    // Registers → workgroup memory: A scaled by its row's power of two and split into halves, B narrowed to f16.
    const store = [
      ...slots(aSlots).map((it) => `{
      let slot = tid + ${it * threads};
      let r = slot / ${TK / 4};
      let kq = (slot % ${TK / 4}) * 4;
      let x = ldexp(xa${it}, vec4<i32>(i32(shifts[min(row0 + r, uniforms.M - 1)])));
      ${splitA}
      let base = r * ${aStride} + kq;
      ${storeA}
    }`),
      ...slots(bSlots).map((it) => `{
      let slot = tid + ${it * threads};
      let base = ${nt ? `(slot / ${TK / 4}) * ${bStride} + (slot % ${TK / 4}) * 4` : `(slot / ${TN / 4}) * ${bStride} + (slot % ${TN / 4}) * 4`};
      ${
        !words
          ? `let hw = vec4<f16>(unpack4(wb${it}));
      Bs[base] = hw.x; Bs[base + 1] = hw.y; Bs[base + 2] = hw.z; Bs[base + 3] = hw.w;`
          : this.format === "f16"
            ? `Bs[base / 4] = bitcast<vec2<u32>>(wb${it}); // f16 words are the staged halves already`
            : `Bs[base / 4] = bitcast<vec2<u32>>(vec4<f16>(unpack4(wb${it})));`
      }
    }`),
    ].join("\n    ");
    // The multiply-adds of one staged slice, unrolled: smallest term first.
    const mma: string[] = [];
    for (let kk = 0; kk < TK / ck; kk++) {
      mma.push("{");
      for (let i = 0; i < RM; i++) {
        for (let t = 0; t < terms; t++) {
          const left = `subgroup_matrix_left<f16, ${ck}, ${cm}>`;
          const offset = `u32(${el(`${t * aTerm} + (sgRow + ${i * cm}) * ${aStride} + ${kk * ck}`)})`;
          mma.push(
            words
              ? `  let a${i}_${t} = subgroupMatrixLoad<${left}, row_major>(&As, ${offset}, ${aStride / unit}u);`
              : `  let a${i}_${t} = subgroupMatrixLoad<${left}>(&As, ${offset}, false, ${aStride}u);`,
          );
        }
      }
      for (let j = 0; j < RN; j++) {
        const offset = `u32(${el(nt ? `(sgCol + ${j * cn}) * ${bStride} + ${kk * ck}` : `${kk * ck * bStride} + sgCol + ${j * cn}`)})`;
        const right = `subgroup_matrix_right<f16, ${cn}, ${ck}>`;
        mma.push(
          words
            ? `  let b${j} = subgroupMatrixLoad<${right}, ${nt ? "col_major" : "row_major"}>(&Bs, ${offset}, ${bStride / unit}u);`
            : `  let b${j} = subgroupMatrixLoad<${right}>(&Bs, ${offset}, ${nt}, ${bStride}u);`,
        );
      }
      for (let i = 0; i < RM; i++) {
        for (let j = 0; j < RN; j++) {
          for (let t = terms - 1; t >= 0; t--) mma.push(`  acc${i}_${j} = subgroupMatrixMultiplyAccumulate(a${i}_${t}, b${j}, acc${i}_${j});`);
        }
      }
      mma.push("}");
    }
    // Epilogue: one result matrix per subgroup through Cs, each lane finishing cm·cn / subgroupSize values.
    const epilogue: string[] = [];
    for (let i = 0; i < RM; i++) {
      for (let j = 0; j < RN; j++) {
        const bias = this.hasBias ? " + bias[col]" : "";
        const residual = this.hasResidual ? " + residual[row * uniforms.N + col]" : "";
        const storeC = words
          ? `subgroupMatrixStore<row_major>(&Cs, u32(sg * ${cm * cn}), acc${i}_${j}, ${cn}u);`
          : `subgroupMatrixStore(&Cs, u32(sg * ${cm * cn}), acc${i}_${j}, false, ${cn}u);`;
        epilogue.push(`${storeC}
  workgroupBarrier();
  for (var e = lane; e < ${cm * cn}; e += ${this.subgroupSize}) {
    let row = row0 + sgRow + ${i * cm} + e / ${cn};
    let col = col0 + sgCol + ${j * cn} + e % ${cn};
    if (row < uniforms.M && col < uniforms.N) {
      result[cBase + row * uniforms.N + col] = (ldexp(Cs[sg * ${cm * cn} + e], -i32(shifts[row]))${bias})${residual};
    }
  }
  workgroupBarrier();`);
      }
    }
    return `enable f16;
enable chromium_experimental_subgroup_matrix;
${unpackFunctions(this.format)}
// x's leading 11 significant bits: its low 13 mantissa bits cleared (exactly an f16 value in f16's normal range).
fn halfHead(x : vec4<f32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(x) & vec4<u32>(0xffffe000u));
}
var<workgroup> As : array<${words ? "vec2<u32>" : "f16"}, ${(terms * aTerm) / unit}>;
var<workgroup> Bs : array<${words ? "vec2<u32>" : "f16"}, ${(nt ? TN * bStride : TK * bStride) / unit}>;
var<workgroup> Cs : array<f32, ${sgm * sgn * cm * cn}>;

// Operand offsets derive from the subgroup's index (localIndex / subgroup size): uniform within each subgroup,
// which WGSL's analysis (workgroup uniformity) cannot show.
@diagnostic(off, chromium.subgroup_matrix_uniformity)
fn main() {
  let tid = i32(localIndex);
  let sg = tid / ${this.subgroupSize};
  let lane = tid % ${this.subgroupSize};
  let sgRow = (sg / ${sgn}) * ${RM * cm};
  let sgCol = (sg % ${sgn}) * ${RN * cn};
  let row0 = i32(workgroupId.y) * ${TM};
  let col0 = i32(workgroupId.x) * ${TN};
  let split = i32(workgroupId.z);
  let kStart = split * uniforms.kChunk;
  let kEnd = min(kStart + uniforms.kChunk, uniforms.K);
  let cBase = split * uniforms.M * uniforms.N;
  let K4 = uniforms.K / 4;
  let N4 = uniforms.N / 4;
  ${segments === 1 ? "" : `// The weight this block's columns come from, where it begins, and its words per row ("nn").
  let seg = select(select(0, 1, col0 >= uniforms.seg1), 2, col0 >= uniforms.seg2);
  let segStart = select(select(0, uniforms.seg1, seg == 1), uniforms.seg2, seg == 2);
  let segEnd = select(select(uniforms.seg1, uniforms.seg2, seg == 1), uniforms.N, seg == 2);
  let segN4 = (segEnd - segStart) / 4;`}
  ${accs.map((a) => `var ${a} = subgroup_matrix_result<f32, ${cn}, ${cm}>();`).join("\n  ")}
  // Every workgroup runs kChunk / TK slices (zeros past K): a uniform bound, as the barriers need.
  let tiles = (uniforms.kChunk + ${TK - 1}) / ${TK};
  ${declare}
  ${this.mainLoop({ load, store, mma: mma.join("\n    "), TK })}
  ${epilogue.join("\n  ")}
}`;
  }

  /**
   * The loop over K from its parts: `load` (global memory → registers, the slice at kBase), `store` (registers →
   * workgroup memory) and `mma` (the units on the staged slice). The next slice's loads are issued before this
   * one's products, so that their latency hides behind the units' work. A method so that
   * bench/gpu/units-anatomy.mjs can time the kernel with parts left out (in a subclass of its own: those numbers are
   * wrong).
   */
  protected mainLoop(parts: { load: string; store: string; mma: string; TK: number }): string {
    return `var kBase = kStart;
  ${parts.load}
  for (var t = 0; t < tiles; t++) {
    ${parts.store}
    workgroupBarrier();
    kBase = kStart + (t + 1) * ${parts.TK};
    ${parts.load}
    ${parts.mma}
    workgroupBarrier();
  }`;
  }
}

/**
 * Which products the units take, from the same sweep (bench/results/gpu-h100/matrix-units-tiles/): at 128 rows
 * and more, those with weights of ≥ 2^24 elements (Llama-3.1-8B's q/o, MLP and lens, GPT-2's lens: 0.44–0.82 of
 * the tiled kernel's time with the chosen tiles), and at 512 rows and more those of ≥ 2^19 (GPT-2's 768-wide
 * products at 1024 rows 0.42–0.75; Llama's k/v, 4096 × 1024, 0.94–0.98). At 128 rows the smaller ones were slower
 * on every tile (k/v 1.5×, GPT-2's products 1.4–1.8×). Below `minLargeBlocks` blocks of the large tile a product
 * takes the small one. LMPROBE_MATRIX_UNITS=all lifts the sizes.
 */
export const unitTiling = { minLargeBlocks: 48, minRows: 128, minWeight: 2 ** 24, minRowsSmallWeight: 512, minSmallWeight: 2 ** 19 };

/** Whether unitTiling's sizes send an M-row product with an N × K weight to the units. */
function unitsTake(M: number, N: number, K: number): boolean {
  if (everyProductOnUnits()) return true;
  if (M < 16 || N < 16) return false;
  const weight = N * K;
  return (M >= unitTiling.minRows && weight >= unitTiling.minWeight) || (M >= unitTiling.minRowsSmallWeight && weight >= unitTiling.minSmallWeight);
}

/**
 * The tile for an M×K · K×N product on the matrix units (and its block's sides, for split-K's choice), or null when
 * they should not take it: units off, a product below unitTiling's sizes, or more workgroup memory than the device
 * allows. With `widths` (weights side by side, MatMulUnitsProgram's segments), only tiles whose block columns
 * divide every width, the preferred block size's tiles first.
 */
export function planUnits(M: number, N: number, K: number, widths: readonly number[] | null = null): { tile: UnitTile; terms: 1 | 2 | 3; blockRows: number; blockCols: number } | null {
  const shape = matrixUnits.shape;
  // RowShiftProgram runs one workgroup per row: at most 65535 in one dispatch dimension.
  if (!shape || !matrixUnitsEnabled() || K % 4 !== 0 || M > 65535 || !unitsTake(M, N, K)) return null;
  const terms = matrixUnitTerms();
  const large = unitBlock(shape, unitTile("large"));
  const blocks: UnitBlocks = Math.ceil(M / large.rows) * Math.ceil(N / large.cols) >= unitTiling.minLargeBlocks ? "large" : "small";
  const candidates = widths ? [...unitTiles(blocks), ...unitTiles(blocks === "large" ? "small" : "large")] : unitTiles(blocks);
  for (const tile of candidates) {
    const block = unitBlock(shape, tile);
    if (widths && widths.some((w) => w % block.cols !== 0)) continue;
    if (unitTileFits(shape, tile) && unitWorkgroupBytes(shape, tile, terms) <= matrixUnits.workgroupStorage) {
      return { tile, terms, blockRows: block.rows, blockCols: block.cols };
    }
  }
  return null;
}
