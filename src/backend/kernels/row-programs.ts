// WGSL programs that each replace a chain of small tfjs ops on the webgpu backend, where the chain's cost is
// its dispatches rather than its arithmetic: RMSNorm / LayerNorm over the last axis (6–9 ops → 1), a gated or
// plain activation (up to 8 ops → 1) and attention's scale → softcap → + mask → softmax (3–6 ops → 1).
// Each computes in the reference's order (the same formulas as the tfjs ops they replace), so only the order
// of a row's sums differs.
import type { WebgpuProgram } from "./program";

const THREADS = 256;
/** Rows per dispatch along x; more rows continue along y (workgroup counts per dimension are limited). */
const ROWS_X = 32768;
/** Longest row the per-thread registers hold: 32 values per thread. */
export const MAX_ROW = THREADS * 32;

/**
 * A tree reduction over the workgroup into `out` (every thread gets the total), inlined with its own
 * workgroup array: each reduction of a kernel uses a fresh array, so no thread can overwrite a total that
 * a slower thread has yet to read (llvmpipe showed exactly that race when one array served two reductions).
 */
function blockReduce(array: string, input: string, out: string, op: "sum" | "max"): string {
  const combine = op === "sum" ? `${array}[tid] + ${array}[tid + s]` : `max(${array}[tid], ${array}[tid + s])`;
  return `
  ${array}[tid] = ${input};
  workgroupBarrier();
  for (var s = ${THREADS / 2}; s > 0; s = s >> 1u) {
    if (tid < s) { ${array}[tid] = ${combine}; }
    workgroupBarrier();
  }
  let ${out} = ${array}[0];`;
}

const sharedArrays = (...names: string[]) => names.map((n) => `var<workgroup> ${n} : array<f32, ${THREADS}>;`).join("\n");

/** One workgroup per row, rows along x then y (no early return: every thread must reach the barriers). */
abstract class RowProgram implements WebgpuProgram {
  outputShape: number[];
  abstract shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  abstract variableNames: string[];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  abstract uniforms: string;
  readonly perThread: number;

  constructor(shape: number[], readonly rows: number, readonly width: number) {
    this.outputShape = shape;
    this.dispatch = [Math.min(rows, ROWS_X), Math.ceil(rows / ROWS_X), 1];
    this.perThread = Math.max(1, Math.ceil(width / THREADS));
  }

  abstract getUserCode(): string;

  protected rowPrelude(): string {
    return `
  let tid = i32(localIndex);
  let row = i32(workgroupId.y) * ${ROWS_X} + i32(workgroupId.x);
  let valid = row < uniforms.rows;
  let D = uniforms.width;
  let base = row * D;`;
  }
}

export type NormKind = "rms" | "layer";

/** x [..., d] → norm over d, × (weight + offset), + bias: the ops of model/components/norm.ts in one pass. */
export class NormProgram extends RowProgram {
  shaderKey: string;
  variableNames: string[];
  uniforms = "rows : i32, width : i32, eps : f32, offset : f32,";

  constructor(shape: number[], readonly kind: NormKind, readonly hasWeight: boolean, readonly hasBias: boolean) {
    super(shape, shape.slice(0, -1).reduce((p, d) => p * d, 1), shape[shape.length - 1]);
    this.variableNames = ["x", ...(hasWeight ? ["w"] : []), ...(hasBias ? ["b"] : [])];
    this.shaderKey = `lmprobeNorm_${kind}_${hasWeight}_${hasBias}_${this.perThread}`;
  }

  getUserCode(): string {
    const P = this.perThread;
    const centre =
      this.kind === "layer"
        ? `${blockReduce("redA", "s", "total", "sum")}
  let mu = total / f32(D);
  var sq = 0.0;
  for (var j = 0; j < ${P}; j++) {
    let i = tid + j * ${THREADS};
    if (valid && i < D) {
      let centred = vals[j] - mu;
      vals[j] = centred;
      sq = sq + centred * centred;
    }
  }
  ${blockReduce("redB", "sq", "sumSq", "sum")}
  let inv = inverseSqrt(sumSq / f32(D) + uniforms.eps);`
        : `var sq = 0.0;
  for (var j = 0; j < ${P}; j++) { sq = sq + vals[j] * vals[j]; }
  ${blockReduce("redA", "sq", "sumSq", "sum")}
  let inv = inverseSqrt(sumSq / f32(D) + uniforms.eps);`;
    return `${sharedArrays("redA", "redB")}
fn main() {${this.rowPrelude()}
  var vals : array<f32, ${P}>;
  var s = 0.0;
  for (var j = 0; j < ${P}; j++) {
    let i = tid + j * ${THREADS};
    var v = 0.0;
    if (valid && i < D) { v = x[base + i]; }
    vals[j] = v;
    s = s + v;
  }
  ${centre}
  for (var j = 0; j < ${P}; j++) {
    let i = tid + j * ${THREADS};
    if (valid && i < D) {
      var y = vals[j] * inv;
      ${this.hasWeight ? "y = y * (w[i] + uniforms.offset);" : ""}
      ${this.hasBias ? "y = y + b[i];" : ""}
      result[base + i] = y;
    }
  }
}
`;
  }
}

/**
 * scores [batch, heads, queries, keys] → softmax(softcap(scores · scale) + mask) over keys, mask
 * [batch, 1, queries, keys] shared by the heads: attention's middle in one pass.
 */
export class ScoresSoftmaxProgram extends RowProgram {
  shaderKey: string;
  variableNames = ["scores", "mask"];
  uniforms = "rows : i32, width : i32, heads : i32, queries : i32, scale : f32, softcap : f32,";

  // No causal skip here (unlike the two products around it, MatMulTiledProgram's `causal`): leaving out the keys
  // after a row's own was never faster on an H100 (0.90× for GPT-2's 12 heads, 0.98–1.01× for Qwen's and the 8B's
  // at 128 and 1024 positions, bench/results/gpu-h100/causal-skip/): each thread strides the row either way.
  constructor(shape: number[], readonly softcap: boolean) {
    super(shape, shape[0] * shape[1] * shape[2], shape[3]);
    this.shaderKey = `lmprobeScoresSoftmax_${softcap}_${this.perThread}`;
  }

  getUserCode(): string {
    const P = this.perThread;
    // tfjs-webgpu's tanh, which stays finite for large |x| (exp of a non-positive argument only).
    const cap = this.softcap
      ? `{ let a = v / uniforms.softcap; let e2x = exp(-2.0 * abs(a)); v = sign(a) * (1.0 - e2x) / (1.0 + e2x) * uniforms.softcap; }`
      : "";
    return `${sharedArrays("redA", "redB")}
fn main() {${this.rowPrelude()}
  // The mask row: batch b = row / (heads · queries), query q = row % queries.
  let maskBase = ((row / (uniforms.heads * uniforms.queries)) * uniforms.queries + row % uniforms.queries) * D;
  var vals : array<f32, ${P}>;
  var m = -uniforms.INFINITY;
  for (var j = 0; j < ${P}; j++) {
    let i = tid + j * ${THREADS};
    var v = -uniforms.INFINITY;
    if (valid && i < D) {
      v = scores[base + i] * uniforms.scale;
      ${cap}
      v = v + mask[maskBase + i];
    }
    vals[j] = v;
    m = max(m, v);
  }
  ${blockReduce("redA", "m", "rowMax", "max")}
  var s = 0.0;
  for (var j = 0; j < ${P}; j++) {
    let i = tid + j * ${THREADS};
    var e = 0.0;
    if (valid && i < D) { e = exp(vals[j] - rowMax); }
    vals[j] = e;
    s = s + e;
  }
  ${blockReduce("redB", "s", "rowSum", "sum")}
  for (var j = 0; j < ${P}; j++) {
    let i = tid + j * ${THREADS};
    if (valid && i < D) { result[base + i] = vals[j] / rowSum; }
  }
}
`;
  }
}

export type FusedActivation = "silu" | "gelu_tanh" | "gelu_quick" | "relu";

/**
 * WGSL for act(a), `a` a float32 (or, with `zero` "vec4<f32>(0.0)", a vec4) expression: the formulas of
 * model/components/activations.ts op for op, so that every kernel applying it (ActivationProgram, the split-K sum's
 * epilogue) gives the same bits.
 */
export function activationWgsl(act: FusedActivation, a: string, zero = "0.0"): string {
  // tfjs-webgpu's sigmoid: 1 / (1 + exp(−x)).
  const sigmoid = (e: string) => `(1.0 / (1.0 + exp(-1.0 * (${e}))))`;
  switch (act) {
    case "silu":
      return `(${a} * ${sigmoid(a)})`;
    case "gelu_tanh":
      // x · sigmoid(2u), u = (x + 0.044715 · x·x·x) · √(2/π): activations.ts's gelu_tanh, op for op.
      return `(${a} * ${sigmoid(`((${a} + 0.044715 * ((${a} * ${a}) * ${a})) * ${Math.sqrt(2 / Math.PI)}) * 2.0`)})`;
    case "gelu_quick":
      return `(${a} * ${sigmoid(`${a} * 1.702`)})`;
    case "relu":
      return `select(${a}, ${zero}, ${a} < ${zero})`;
  }
}

/** act(x) (· up when gated), elementwise, in the formulas of model/components/activations.ts. */
export class ActivationProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  size = true;

  uniforms?: string;

  /**
   * `joint`: gate and up come from one [rows, 2F] product (gate | up side by side, the input `xu`), and the output
   * is [rows, F] (shape); x and up otherwise.
   */
  constructor(shape: number[], readonly act: FusedActivation, readonly gated: boolean, readonly joint = false) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    const n = shape.reduce((p, d) => p * d, 1);
    this.dispatch = [Math.ceil(n / THREADS), 1, 1];
    this.variableNames = joint ? ["xu"] : gated ? ["x", "up"] : ["x"];
    if (joint) this.uniforms = "width : i32,";
    this.shaderKey = `lmprobeActivation_${act}_${gated}_${joint}`;
  }

  getUserCode(): string {
    const y = activationWgsl(this.act, "a");
    if (this.joint) {
      return `
fn main(index : i32) {
  if (index < uniforms.size) {
    let at = (index / uniforms.width) * 2 * uniforms.width + index % uniforms.width;
    let a = xu[at];
    let y = ${y};
    result[index] = y * xu[at + uniforms.width];
  }
}
`;
    }
    return `
fn main(index : i32) {
  if (index < uniforms.size) {
    let a = x[index];
    let y = ${y};
    result[index] = ${this.gated ? "y * up[index]" : "y"};
  }
}
`;
  }
}

/**
 * Rotary embedding, "half" style: x [batch, pos, heads, dHead] with tables cos, sin [batch, pos, 1, rot] laid
 * out as model/components/rotary.ts builds them ([cos, cos] and [−sin, sin]): the first rot features become
 * x·cos + swap(x)·sin, swap exchanging the two halves; the rest pass through (6–8 ops → 1).
 */
export class RotaryHalfProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ["x", "cosT", "sinT"];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  size = true;
  // xRow, xStart: x's row length and the offset of this tensor's first column in it (heads · dHead and 0 for x of
  // the output's own shape; q or k read from one q|k|v product's rows otherwise).
  uniforms = "heads : i32, dHead : i32, rot : i32, xRow : i32, xStart : i32,";

  constructor(shape: number[]) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    this.dispatch = [Math.ceil(shape.reduce((p, d) => p * d, 1) / THREADS), 1, 1];
    this.shaderKey = "lmprobeRotaryHalf";
  }

  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index < uniforms.size) {
    let i = index % uniforms.dHead;
    let token = index / (uniforms.dHead * uniforms.heads);
    let at = token * uniforms.xRow + uniforms.xStart + (index - token * uniforms.dHead * uniforms.heads);
    if (i >= uniforms.rot) {
      result[index] = x[at];
    } else {
      let half = uniforms.rot / 2;
      let partner = select(at - half, at + half, i < half);
      let t = token * uniforms.rot + i;
      result[index] = x[at] * cosT[t] + x[partner] * sinT[t];
    }
  }
}
`;
  }
}

/**
 * The additive attention mask [batch, 1, queries, keys] of model/components/masks.ts in one pass: 0 where query i
 * (key index past + i) may see key j (j ≤ past + i, inside the sliding window when there is one, keyValid[b][j] = 1),
 * the float32 minimum elsewhere. keyValid is int32 [batch, keys]; window ≤ 0 means none.
 */
export class AttentionMaskProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey = "lmprobeAttentionMask";
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ["keyValid"];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  size = true;
  uniforms = "queries : i32, keys : i32, past : i32, window : i32,";

  constructor(batch: number, queries: number, keys: number) {
    this.outputShape = [batch, 1, queries, keys];
    this.dispatchLayout = { x: [0, 1, 2, 3] };
    this.dispatch = [Math.ceil((batch * queries * keys) / THREADS), 1, 1];
  }

  getUserCode(): string {
    // The float32 minimum by its bits (torch.finfo(torch.float32).min, masks.ts's MASKED), not a decimal literal.
    return `
fn main(index : i32) {
  if (index < uniforms.size) {
    let j = index % uniforms.keys;
    let row = index / uniforms.keys;
    let q = uniforms.past + row % uniforms.queries;
    let b = row / uniforms.queries;
    let visible = j <= q && (uniforms.window <= 0 || j > q - uniforms.window) && keyValid[b * uniforms.keys + j] == 1;
    result[index] = select(bitcast<f32>(0xff7fffffu), 0.0, visible);
  }
}
`;
  }
}

/**
 * For each row of x [rows, width] and each of its thresholds [rows, targets]: how many entries of the row are
 * strictly greater, as int32 [rows, targets] (the lens's target ranks). One workgroup per (row, threshold), its
 * threads striding along the row and summing their counts in workgroup memory (integers: exact at any width).
 * NaN compares false either side, as tf.greater.
 */
export class CountAboveProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey = "lmprobeCountAbove";
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  variableNames = ["x", "thresholds"];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = "cells : i32, targets : i32, width : i32,";

  constructor(rows: number, targets: number) {
    this.outputShape = [rows, targets];
    const cells = rows * targets;
    this.dispatch = [Math.min(cells, ROWS_X), Math.ceil(cells / ROWS_X), 1];
  }

  getUserCode(): string {
    return `
var<workgroup> partial : array<i32, ${THREADS}>;

fn main() {
  let tid = i32(localIndex);
  let cell = i32(workgroupId.y) * ${ROWS_X} + i32(workgroupId.x);
  let valid = cell < uniforms.cells;
  let W = uniforms.width;
  var count = 0;
  if (valid) {
    let base = (cell / uniforms.targets) * W;
    let limit = thresholds[cell];
    for (var v = tid; v < W; v = v + ${THREADS}) {
      if (x[base + v] > limit) { count = count + 1; }
    }
  }
  partial[tid] = count;
  workgroupBarrier();
  for (var s = ${THREADS / 2}; s > 0; s = s >> 1u) {
    if (tid < s) { partial[tid] = partial[tid] + partial[tid + s]; }
    workgroupBarrier();
  }
  if (valid && tid == 0) { result[cell] = partial[0]; }
}
`;
  }
}

/**
 * softmax over the last axis, any width (threads stride along the row): exp(x − max) / Σ exp(x − max), as
 * tfjs-webgpu's kernel computes it, except that the running maximum starts at −Infinity. tfjs-webgpu 4.22.0 starts
 * it at −3.402823e38, which is above the float32 minimum: a row whose entries are all that minimum (a fully masked
 * attention row, as a left-padded batch has) then got exp(x − max) = 0 everywhere and 0 / 0 = NaN, where PyTorch
 * gives a uniform row.
 */
export class SoftmaxProgram extends RowProgram {
  shaderKey = "lmprobeSoftmax";
  variableNames = ["logits"];
  uniforms = "rows : i32, width : i32,";

  constructor(shape: number[]) {
    const width = shape[shape.length - 1];
    super(shape, width === 0 ? 0 : shape.reduce((p, d) => p * d, 1) / width, width);
  }

  getUserCode(): string {
    return `
${sharedArrays("maxBuf", "sumBuf")}

fn main() {
  ${this.rowPrelude()}
  // −Infinity at run time (a constant expression may not evaluate to an infinity).
  var negInf = 0xff800000u;
  var m = bitcast<f32>(negInf);
  if (valid) {
    for (var i = tid; i < D; i = i + ${THREADS}) { m = max(m, logits[base + i]); }
  }
  ${blockReduce("maxBuf", "m", "rowMax", "max")}
  var s = 0.0;
  if (valid) {
    for (var i = tid; i < D; i = i + ${THREADS}) { s = s + exp(logits[base + i] - rowMax); }
  }
  ${blockReduce("sumBuf", "s", "rowSum", "sum")}
  if (valid) {
    for (var i = tid; i < D; i = i + ${THREADS}) { result[base + i] = exp(logits[base + i] - rowMax) / rowSum; }
  }
}
`;
  }
}
