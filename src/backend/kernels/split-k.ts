// Split-K for the tiled matmul: products with few rows (a prompt of 128 tokens) over a wide inner dimension make
// too few output blocks to occupy a large GPU (the 8B's [128, 4096]·[4096, 4096] is 128 blocks of 64×64 for 132
// SMs, one 256-thread workgroup per SM; its k/v projections 32). Cutting K into slices gives each slice's
// workgroups the same blocks over part of K, writing [splits, M, N] partial sums; SplitKSumProgram adds them up in
// slice order and applies the bias and residual epilogue. The partials cost splits·M·N·4 bytes written and read
// once (8 MB for the 8B's q projection at 4 slices), against K/splits multiply-adds per output per slice.
import { ArgumentError } from "../../errors";
import type { WebgpuProgram } from "./program";

/** K-slices are whole multiples of the tiled kernel's 16-deep slice (so no tile straddles two K-slices). */
const K_ALIGN = 16;

/**
 * When to split, from bench/gpu/packed-matmul.sh on an NVIDIA H100 (bench/results/gpu-h100/packed-matmul-split-k.json):
 * products of at most `maxRows` rows, into about `targetWorkgroups` workgroups (8 waves of 132 SMs), each K-slice
 * at least `minChunk` deep. At 128 rows that made the 8B's q/o 1.4×, k/v 1.8×, MLP down 1.7× and its lens 1.3×
 * faster; at 1024 rows every split tried was 4–17% slower, and GPT-2's K = 768 products gain nothing.
 * `maxPartialBytes` bounds the [splits, M, N] partials (a buffer past the device's binding limit would fail).
 * Tests lower the thresholds.
 */
export const splitKTiling = { maxRows: 256, targetWorkgroups: 1056, minChunk: 1024, maxPartialBytes: 512 * 2 ** 20 };

export interface SplitK {
  splits: number;
  /** Depth of each K-slice (a multiple of 16); the last may be shorter. */
  kChunk: number;
}

/**
 * Slices of K for a single-batch product of M×K·K×N with `tile`-sized output blocks: LMPROBE_MATMUL_SPLITK ("off",
 * or a slice count) when set (read at each call, so a benchmark can compare), else by splitKTiling. Either way no
 * more slices than maxPartialBytes allows.
 */
export function chooseSplitK(M: number, N: number, K: number, tile: number, batch: number, tileCols = tile): SplitK {
  const none = { splits: 1, kChunk: K };
  const raw = process.env.LMPROBE_MATMUL_SPLITK;
  let wanted: number;
  if (raw !== undefined && raw !== "" && raw !== "auto") {
    if (raw === "off") return none;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new ArgumentError("LMPROBE_MATMUL_SPLITK", `is "${raw}": expected off, auto or a positive number of K-slices`, "unset it to choose by shape");
    }
    wanted = n;
  } else {
    if (M > splitKTiling.maxRows) return none;
    const workgroups = Math.ceil(M / tile) * Math.ceil(N / tileCols);
    wanted = Math.min(Math.ceil(splitKTiling.targetWorkgroups / workgroups), Math.floor(K / splitKTiling.minChunk));
  }
  wanted = Math.min(wanted, Math.floor(splitKTiling.maxPartialBytes / (M * N * 4)));
  if (batch !== 1 || wanted < 2) return none;
  const kChunk = Math.ceil(K / wanted / K_ALIGN) * K_ALIGN;
  const splits = Math.ceil(K / kChunk);
  return splits < 2 ? none : { splits, kChunk };
}

/** C = Σ_s P[s] (in slice order) + bias (per column) + residual: P [splits, M, N] from the split-K tiled program. */
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

  constructor(
    readonly M: number,
    readonly N: number,
    readonly hasBias: boolean,
    readonly hasResidual: boolean,
  ) {
    this.outputShape = [M, N];
    this.outputComponent = N % 4 === 0 ? 4 : 1;
    const c = this.outputComponent;
    this.variableNames = ["P", ...(hasBias ? ["bias"] : []), ...(hasResidual ? ["residual"] : [])];
    this.variableComponents = this.variableNames.map(() => c);
    const groups = Math.ceil((M * N) / c / 256);
    this.dispatch = [Math.min(groups, 65535), Math.ceil(groups / 65535), 1];
    this.shaderKey = `lmprobeSplitKSum_${c}_${hasBias}_${hasResidual}`;
  }

  getUserCode(): string {
    const c = this.outputComponent;
    const zero = c === 4 ? "vec4<f32>(0.0)" : "0.0";
    // (Σ + bias) + residual: the rounding order of the unsplit kernel's epilogue.
    const biased = this.hasBias ? "s + bias[i % uniforms.cols]" : "s";
    const value = this.hasResidual ? `(${biased}) + residual[i]` : biased;
    return `
fn main() {
  let i = i32((workgroupId.y * numWorkgroups.x + workgroupId.x) * 256u + localIndex);
  if (i >= uniforms.count) { return; }
  var s = ${zero};
  for (var p = 0; p < uniforms.splits; p++) {
    s = s + P[p * uniforms.count + i];
  }
  result[i] = ${value};
}
`;
  }
}

/** Uniforms of SplitKSumProgram for [M, N] outputs (counts in the program's vector width). */
export function splitKSumUniforms(program: SplitKSumProgram, splits: number): { type: "int32"; data: number[] }[] {
  const c = program.outputComponent;
  return [splits, (program.M * program.N) / c, program.N / c].map((v) => ({ type: "int32" as const, data: [v] }));
}
