// Split-K for the tiled matmul: products with few rows (a prompt of 128 tokens) over a wide inner dimension make
// too few output blocks to occupy a large GPU (the 8B's [128, 4096]·[4096, 4096] is 128 blocks of 64×64 for 132
// SMs, one 256-thread workgroup per SM; its k/v projections 32). Cutting K into slices gives each slice's
// workgroups the same blocks over part of K, writing [splits, M, N] partial sums; SplitKSumProgram adds them up in
// slice order and applies the bias and residual epilogue. The partials cost splits·M·N·4 bytes written and read
// once (8 MB for the 8B's q projection at 4 slices), against K/splits multiply-adds per output per slice.
import { ArgumentError } from "../../errors";
import type { WebgpuProgram } from "./program";
import { activationWgsl, type FusedActivation } from "./row-programs";

/** K-slices are whole multiples of the tiled kernel's 16-deep slice (so no tile straddles two K-slices). */
const K_ALIGN = 16;

/**
 * LMPROBE_MATMUL_SPLITK_RULE=deep-slices, the rule before shallowSplitKTiling (below), kept for A/B.
 * When to split, from bench/gpu/packed-matmul.sh on an NVIDIA H100 (bench/results/gpu-h100/packed-matmul-split-k.json):
 * products of at most `maxRows` rows, into about `targetWorkgroups` workgroups (8 waves of 132 SMs), each K-slice
 * at least `minChunk` deep. At 128 rows that made the 8B's q/o 1.4×, k/v 1.8×, MLP down 1.7× and its lens 1.3×
 * faster; at 1024 rows every split tried was 4–17% slower. GPT-2's K = 768 products gained nothing there, timed one
 * per queue round trip; timed ten back to back they did (shallowSplitKTiling below).
 * `maxPartialBytes` bounds the [splits, M, N] partials (a buffer past the device's binding limit would fail).
 * Tests lower the thresholds.
 */
export const splitKTiling = { maxRows: 256, targetWorkgroups: 1056, minChunk: 1024, maxPartialBytes: 512 * 2 ** 20 };

/**
 * The default rule since it was timed as a whole forward (LMPROBE_MATMUL_SPLITK_RULE=deep-slices restores the one
 * above): K-slices from `minChunk` deep, at most `maxSplits` of them, and products of fewer workgroups than one
 * `wave` split at any number of rows. From bench/gpu/matrix-units.mjs --splits 1,2,3,4,6,8 --inner 10 on an H100
 * (bench/results/gpu-h100/tiled-split-k-128-rows/, products ten back to back as a forward pass runs them): a
 * workgroup's time is about its number of 16-deep slices (~1.2–1.4 µs each), and at 128 rows GPT-2-small's 768 × 768
 * ran 1.35× faster with 8 slices than whole, its MLP down 1.3× faster than with deep-slices' 3, Qwen2.5-0.5B's q
 * 1.6×, k/v 1.6×, MLP up 1.2×; Qwen's k/v at 1024 rows (32 blocks, 56 slices each) took 72 µs apiece in a forward
 * pass (bench/results/gpu-h100/forward-kernels-unquantized/). The whole forward, alternated with deep-slices in one
 * process on an H100 (`bash bench/gpu/alternate.sh LMPROBE_MATMUL_SPLITK_RULE=deep-slices,shallow-slices`,
 * bench/results/gpu-h100/split-k-rule-alternate{,-8b}/): GPT-2-small 1.13× faster at T = 128 and 1.00× at 1024,
 * Qwen2.5-0.5B 1.12× and 1.10×, the 8B 1.01× and 1.00×; the probes 0.99–1.01×. (Allowing 256-deep slices without
 * the cap and the wave rule had been slower, 0.93× and 0.89×: bench/results/gpu-h100/min-chunk-256-alternate/.)
 */
export const shallowSplitKTiling = { minChunk: 96, maxSplits: 8, wave: 132 };

export type SplitKRule = "deep-slices" | "shallow-slices";

/** LMPROBE_MATMUL_SPLITK_RULE: shallow-slices (unset) or deep-slices; anything else is an error naming it. */
export function splitKRule(): SplitKRule {
  const raw = process.env.LMPROBE_MATMUL_SPLITK_RULE;
  if (raw === undefined || raw === "" || raw === "shallow-slices") return "shallow-slices";
  if (raw === "deep-slices") return raw;
  throw new ArgumentError("LMPROBE_MATMUL_SPLITK_RULE", `is "${raw}": expected shallow-slices or deep-slices`, "unset it for lmprobe's rule (shallow-slices)");
}

export interface SplitK {
  splits: number;
  /** Depth of each K-slice (a multiple of 16); the last may be shorter. */
  kChunk: number;
}

/**
 * Slices of K for a single-batch product of M×K·K×N with `tile`-sized output blocks: LMPROBE_MATMUL_SPLITK ("off",
 * or a slice count) when set (read at each call, so a benchmark can compare), else by shallowSplitKTiling (or
 * splitKTiling under LMPROBE_MATMUL_SPLITK_RULE=deep-slices). Either way no
 * more slices than maxPartialBytes allows.
 */
export function chooseSplitK(M: number, N: number, K: number, tile: number, batch: number, tileCols = tile): SplitK {
  const forced = splitOverride();
  if (forced === "off") return noSplit(K);
  let wanted: number;
  if (forced != null) wanted = forced;
  else {
    const shallow = splitKRule() === "shallow-slices";
    const workgroups = Math.ceil(M / tile) * Math.ceil(N / tileCols);
    if (M > splitKTiling.maxRows && !(shallow && workgroups < shallowSplitKTiling.wave)) return noSplit(K);
    const minChunk = tiledMinChunk(shallow ? shallowSplitKTiling.minChunk : splitKTiling.minChunk);
    wanted = Math.min(Math.ceil(splitKTiling.targetWorkgroups / workgroups), Math.floor(K / minChunk), shallow ? shallowSplitKTiling.maxSplits : Infinity);
  }
  return sliceK(M, N, K, batch, wanted);
}

/**
 * The tiled rule's shallowest K-slice: the rule's own (`ruleMinChunk`), or LMPROBE_MATMUL_SPLITK_MIN_CHUNK (a
 * multiple of 16) for a benchmark's A/B of that one choice (bench/results/gpu-h100/min-chunk-256-alternate/).
 */
function tiledMinChunk(ruleMinChunk: number): number {
  const raw = process.env.LMPROBE_MATMUL_SPLITK_MIN_CHUNK;
  if (raw === undefined || raw === "") return ruleMinChunk;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < K_ALIGN || n % K_ALIGN !== 0) {
    throw new ArgumentError("LMPROBE_MATMUL_SPLITK_MIN_CHUNK", `is "${raw}": expected a multiple of ${K_ALIGN} (the K-slices' depth)`, "unset it for lmprobe's rule");
  }
  return n;
}

/**
 * When the matrix units' kernel splits K, from a sweep on an NVIDIA H100 (bench/results/gpu-h100/units-split-k/,
 * products timed ten back to back, as a forward pass runs them). Its workgroups are large (8 or 16 subgroups), so
 * a product wants about one wave of them, ~`targetWorkgroups`, not the tiled kernel's eight: the number of slices
 * is the power of two that brings the blocks nearest that (32 blocks: 4 slices; 48–56: 2; 96 and more: none), at
 * most `maxSplits`, each slice at least `minChunk` deep. Measured against no split: Qwen2.5-0.5B's MLP down at 1024
 * rows 1.75× faster with 2 slices, GPT-2's 1.6×, the 8B's MLP down at 128 rows 2.4× with 4 (and 1.2× against the
 * 14 slices the tiled kernel's rule gave it), its MLP up 1.12× with 2 against that rule's 4. Odd counts were slower
 * than both neighbours on every product (a second, mostly idle wave). Unlike the tiled rule this applies at any
 * number of rows: at 1024 rows the tiled kernel's 256-thread blocks are many, the units' are not.
 */
export const unitsSplitKTiling = { targetWorkgroups: 128, minChunk: 256, maxSplits: 8 };

/**
 * Slices of K for an M×K·K×N product on the matrix units with blockRows × blockCols output blocks: the same
 * LMPROBE_MATMUL_SPLITK override as the tiled kernel, else unitsSplitKTiling; LMPROBE_MATRIX_UNIT_SPLITK=tiled
 * applies the tiled kernel's rule instead (what the units used before, for a benchmark's A/B).
 */
export function chooseUnitsSplitK(M: number, N: number, K: number, blockRows: number, blockCols: number): SplitK {
  const rule = process.env.LMPROBE_MATRIX_UNIT_SPLITK;
  if (rule === "tiled") return chooseSplitK(M, N, K, blockRows, 1, blockCols);
  if (rule !== undefined && rule !== "" && rule !== "auto") {
    throw new ArgumentError("LMPROBE_MATRIX_UNIT_SPLITK", `is "${rule}": expected auto or tiled`, "unset it for the units' own rule");
  }
  const forced = splitOverride();
  if (forced === "off") return noSplit(K);
  if (forced != null) return sliceK(M, N, K, 1, forced);
  const blocks = Math.ceil(M / blockRows) * Math.ceil(N / blockCols);
  if (blocks >= unitsSplitKTiling.targetWorkgroups) return noSplit(K);
  const cap = Math.min(unitsSplitKTiling.maxSplits, Math.floor(K / unitsSplitKTiling.minChunk));
  if (cap < 2) return noSplit(K);
  const nearest = 2 ** Math.round(Math.log2(unitsSplitKTiling.targetWorkgroups / blocks));
  return sliceK(M, N, K, 1, Math.min(nearest, 2 ** Math.floor(Math.log2(cap))));
}

function noSplit(K: number): SplitK {
  return { splits: 1, kChunk: K };
}

/** LMPROBE_MATMUL_SPLITK: "off", a slice count, or null for the rule (unset or "auto"). */
function splitOverride(): "off" | number | null {
  const raw = process.env.LMPROBE_MATMUL_SPLITK;
  if (raw === undefined || raw === "" || raw === "auto") return null;
  if (raw === "off") return "off";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new ArgumentError("LMPROBE_MATMUL_SPLITK", `is "${raw}": expected off, auto or a positive number of K-slices`, "unset it to choose by shape");
  }
  return n;
}

/** `wanted` slices of K (whole multiples of K_ALIGN), or none where fewer than two result or the partials are too large. */
function sliceK(M: number, N: number, K: number, batch: number, wanted: number): SplitK {
  wanted = Math.min(wanted, Math.floor(splitKTiling.maxPartialBytes / (M * N * 4)));
  if (batch !== 1 || wanted < 2) return noSplit(K);
  const kChunk = Math.ceil(K / wanted / K_ALIGN) * K_ALIGN;
  const splits = Math.ceil(K / kChunk);
  return splits < 2 ? noSplit(K) : { splits, kChunk };
}

/**
 * What the split-K sum applies as it stores, besides adding the slices: with `segments` (2 or 3 weights side by side,
 * kernels/segmented.ts) each segment's bias is its own input (uniforms seg1, seg2: the columns where the second and
 * third begin); `act` applies an activation to Σ + bias (an MLP's input projection, where nothing reads it before
 * the activation); `gated` reads the partials as gate | up, [splits, M, 2F] (two segments of F), and stores
 * act(Σgate + b_gate) · (Σup + b_up), [M, F]. Each is the formula of the separate pass it replaces, in its order
 * (ActivationProgram's), so the values are those of the sum followed by that pass.
 */
export interface SplitKEpilogue {
  segments?: number;
  act?: FusedActivation | null;
  gated?: boolean;
}

/**
 * C = Σ_s P[s] (in slice order) + bias (per column) + residual, P [splits, M, N] from a split-K product; with an
 * epilogue (SplitKEpilogue) per-segment biases, an activation or a gated activation of gate | up partials, where
 * C is then [M, N / 2]. N is C's width.
 */
export class SplitKSumProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents: number[];
  outputComponent: number;
  workgroupSize: [number, number, number] = [256, 1, 1];
  uniforms = "splits : i32, count : i32, cols : i32,";
  readonly segments: number;
  readonly act: FusedActivation | null;
  readonly gated: boolean;

  constructor(
    readonly M: number,
    readonly N: number,
    readonly hasBias: boolean,
    readonly hasResidual: boolean,
    epilogue: SplitKEpilogue = {},
  ) {
    this.segments = epilogue.gated ? 2 : (epilogue.segments ?? 1);
    this.act = epilogue.act ?? null;
    this.gated = epilogue.gated === true;
    if (this.gated && (!this.act || hasResidual)) throw new Error("SplitKSumProgram: a gated epilogue takes an activation and no residual");
    if (this.act && hasResidual) throw new Error("SplitKSumProgram: an activation's output takes no residual add");
    if (!Number.isInteger(this.segments) || this.segments < 1 || this.segments > 3) throw new Error(`SplitKSumProgram: ${this.segments} segments (1 to 3)`);
    this.outputShape = [M, N];
    this.outputComponent = N % 4 === 0 ? 4 : 1;
    const c = this.outputComponent;
    const biases = !hasBias ? [] : this.segments === 1 ? ["bias"] : Array.from({ length: this.segments }, (_, i) => `bias${i}`);
    this.variableNames = ["P", ...biases, ...(hasResidual ? ["residual"] : [])];
    this.variableComponents = this.variableNames.map(() => c);
    if (this.segments > 1 && !this.gated) this.uniforms += " seg1 : i32, seg2 : i32,";
    const groups = Math.ceil((M * N) / c / 256);
    this.dispatch = [Math.min(groups, 65535), Math.ceil(groups / 65535), 1];
    this.shaderKey = `lmprobeSplitKSum_${c}_${hasBias}_${hasResidual}_${this.segments}_${this.act ?? "none"}_${this.gated}`;
  }

  getUserCode(): string {
    const c = this.outputComponent;
    const zero = c === 4 ? "vec4<f32>(0.0)" : "0.0";
    const act = (e: string) => (this.act ? activationWgsl(this.act, e, zero) : e);
    if (this.gated) {
      // Row r's gate columns are P[.., r, 0..F), its up columns P[.., r, F..2F): cols = F / c.
      const bias = (i: number, e: string) => (this.hasBias ? `${e} + bias${i}[col]` : e);
      return `
fn main() {
  let i = i32((workgroupId.y * numWorkgroups.x + workgroupId.x) * 256u + localIndex);
  if (i >= uniforms.count) { return; }
  let row = i / uniforms.cols;
  let col = i % uniforms.cols;
  let at = row * 2 * uniforms.cols + col;
  var g = ${zero};
  var u = ${zero};
  for (var p = 0; p < uniforms.splits; p++) {
    g = g + P[p * 2 * uniforms.count + at];
    u = u + P[p * 2 * uniforms.count + at + uniforms.cols];
  }
  let a = ${bias(0, "g")};
  let y = ${act("a")};
  result[i] = y * (${bias(1, "u")});
}
`;
    }
    // The bias of output column col (in units of c): its segment's own (segmented) or the one bias.
    let biasOf = "bias[i % uniforms.cols]";
    let segmentFn = "";
    if (this.hasBias && this.segments > 1) {
      biasOf = "segmentBias(i % uniforms.cols)";
      const cases = Array.from({ length: this.segments }, (_, s) => s)
        .reverse()
        .map((s) => (s === 0 ? `return bias0[col];` : `if (col * ${c} >= uniforms.seg${s}) { return bias${s}[col - uniforms.seg${s} / ${c}]; }`))
        .join(" ");
      segmentFn = `fn segmentBias(col : i32) -> ${c === 4 ? "vec4<f32>" : "f32"} { ${cases} }`;
    }
    // (Σ + bias) + residual: the rounding order of the unsplit kernel's epilogue; act(Σ + bias) that of the
    // activation pass after it.
    const biased = this.hasBias ? `s + ${biasOf}` : "s";
    const value = this.hasResidual ? `(${biased}) + residual[i]` : this.act ? act("a") : biased;
    return `${segmentFn}
fn main() {
  let i = i32((workgroupId.y * numWorkgroups.x + workgroupId.x) * 256u + localIndex);
  if (i >= uniforms.count) { return; }
  var s = ${zero};
  for (var p = 0; p < uniforms.splits; p++) {
    s = s + P[p * uniforms.count + i];
  }
  ${this.act ? `let a = ${biased};` : ""}
  result[i] = ${value};
}
`;
  }
}

/**
 * Uniforms of SplitKSumProgram for [M, N] outputs (counts in the program's vector width); `segmentStarts`: the
 * columns where the second (and third) weight begin, for a segmented, ungated sum.
 */
export function splitKSumUniforms(program: SplitKSumProgram, splits: number, segmentStarts: readonly number[] = []): { type: "int32"; data: number[] }[] {
  const c = program.outputComponent;
  const values = [splits, (program.M * program.N) / c, program.N / c];
  if (program.segments > 1 && !program.gated) {
    if (segmentStarts.length !== program.segments - 1) throw new Error(`splitKSumUniforms: ${program.segments} segments need ${program.segments - 1} starts`);
    values.push(segmentStarts[0], segmentStarts[1] ?? program.N);
  }
  return values.map((v) => ({ type: "int32" as const, data: [v] }));
}
