// Host-side references shared by the matmul tests (kernels, packed weights, split-K, the logit statistics):
// deterministic random values, a float64 product with the bias + residual epilogue, and the worst absolute error.
import assert from "node:assert/strict";

/** Deterministic uniform values in (−scale, scale) (a linear congruential sequence from `seed`). */
export function randoms(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** want[i, j] = Σ_k x[i, k] · w(k, j) + bias[j] + residual[i, j] in float64; x is [M, K] row-major. */
export function productReference(x: Float32Array, w: (k: number, j: number) => number, M: number, K: number, N: number, bias: Float32Array, residual: Float32Array): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[i * K + k] * w(k, j);
      out[i * N + j] = s + bias[j] + residual[i * N + j];
    }
  }
  return out;
}

/** The largest |got[i] − want[i]| (the lengths must agree). */
export function maxError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst;
}
