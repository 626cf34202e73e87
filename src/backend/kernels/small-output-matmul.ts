// Products with a small output and a long inner dimension, such as the layer-similarity Gram matrix
// [layers, T·d] · [layers, T·d]ᵀ (13 × 13 outputs over 786 432 terms for GPT-2 at T = 1024). tfjs-webgpu sends
// these to a split-K kernel whose workgroups meet on every output through atomic compare-and-swap loops; on an
// H200 that took ~60 ms for GPT-2's matrix. Here each workgroup sums one K-slice of one output with a tree in
// workgroup memory and writes its partial; a Sum over the slices finishes (two dispatches, no atomics).
import type { WebgpuProgram } from "./program";

const THREADS = 256;
/** Inner-dimension terms per workgroup: 16 per thread. */
export const SLICE = THREADS * 16;

/** Partial sums [M·N, slices] of A [M, K] · B (B [N, K] when nt, else [K, N]). */
export class SmallOutputPartialsProgram implements WebgpuProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [1], y: [0] };
  dispatch: [number, number, number];
  variableNames = ["A", "B"];
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  uniforms = "M : i32, N : i32, K : i32, slices : i32,";

  constructor(readonly M: number, readonly N: number, readonly K: number, readonly nt: boolean) {
    const slices = Math.ceil(K / SLICE);
    this.outputShape = [M * N, slices];
    this.dispatch = [slices, M * N, 1];
    this.shaderKey = `lmprobeSmallOutput_${nt}`;
  }

  getUserCode(): string {
    const bAt = this.nt ? "B[j * uniforms.K + k]" : "B[k * uniforms.N + j]";
    return `
var<workgroup> partial : array<f32, ${THREADS}>;
fn main() {
  let tid = i32(localIndex);
  let slice = i32(workgroupId.x);
  let o = i32(workgroupId.y);
  let i = o / uniforms.N;
  let j = o % uniforms.N;
  let start = slice * ${SLICE};
  let end = min(start + ${SLICE}, uniforms.K);
  var s = 0.0;
  for (var k = start + tid; k < end; k += ${THREADS}) {
    s = fma(A[i * uniforms.K + k], ${bAt}, s);
  }
  partial[tid] = s;
  workgroupBarrier();
  for (var w = ${THREADS / 2}; w > 0; w = w >> 1u) {
    if (tid < w) { partial[tid] = partial[tid] + partial[tid + w]; }
    workgroupBarrier();
  }
  if (tid == 0) { result[o * uniforms.slices + slice] = partial[0]; }
}
`;
  }
}
