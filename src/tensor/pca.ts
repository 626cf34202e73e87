// Principal components of the rows of a matrix X [n, d], computed on the device. Only the scores [n, k], the
// explained variances and a [p, p] Ritz matrix (p = k + a few) ever leave it: no [n, d] or [d, d] read back.
//
// Method: subspace iteration on M, the smaller of the Gram matrix Xc·Xcᵀ [n, n] and the scatter matrix Xcᵀ·Xc
// [d, d] (Xc = X centred on its column means), then a Rayleigh–Ritz step whose small symmetric eigenproblem is
// solved on the host by ml-matrix. Both M's share their non-zero eigenvalues λ (the squared singular values of Xc);
// scores are Xc·W for the top eigenvectors W of the scatter matrix, or U·√λ from the Gram matrix.
import * as tf from "@tensorflow/tfjs-core";
import { EigenvalueDecomposition, Matrix } from "ml-matrix";
import { ArgumentError } from "../errors";

/** Iterations and seed of pca(). */
export interface PcaOptions {
  /** Subspace iterations (default 60). */
  iterations?: number;
  /** Seed of the starting subspace (default 0): results are deterministic. */
  seed?: number;
}

/** Scores, variances and explained-variance ratios of pca(). */
export interface PcaResult {
  /** [n][k] coordinates of each row on the components. */
  scores: number[][];
  /** Variance along each component (λ / (n − 1)). */
  variance: number[];
  /** Share of the total variance each component explains. */
  explainedRatio: number[];
  totalVariance: number;
}

/** Principal components of the rows of a [n, d] matrix, computed on the device (subspace iteration and a small Rayleigh–Ritz step). */
export async function pca(x: tf.Tensor2D, k: number, options: PcaOptions = {}): Promise<PcaResult> {
  const [n, d] = x.shape;
  const m = Math.min(n, d);
  // Centring leaves at most n − 1 directions of variance.
  const rank = Math.min(n - 1, d);
  if (!Number.isInteger(k) || k < 1 || k > rank) {
    throw new ArgumentError("components", `is ${k} for ${n} rows of dimension ${d}`, rank < 1 ? "give at least two rows" : `use 1 … ${rank}`);
  }
  const iterations = options.iterations ?? 60;
  const p = Math.min(m, k + 6);
  const useGram = n <= d;
  const held: tf.Tensor[] = [];
  try {
    const centred = tf.tidy(() => tf.sub(x, tf.mean(x, 0, true))) as tf.Tensor2D;
    held.push(centred);
    // M + εI: the same eigenvectors, but no zero eigenvalues, so the orthonormalisation never meets a null vector
    // (a rank-deficient M, e.g. repeated rows, would otherwise turn the basis into NaN). ε is removed from the values.
    const { M, shift } = tf.tidy(() => {
      const scatter = useGram ? tf.matMul(centred, centred, false, true) : tf.matMul(centred, centred, true, false);
      const eps = tf.add(tf.mul(tf.div(tf.sum(tf.square(centred)), m), 1e-3), 1e-12);
      return { M: tf.add(scatter, tf.mul(tf.eye(m), eps)) as tf.Tensor2D, shift: eps };
    });
    held.push(M, shift);
    let basis = tf.tidy(() => tf.linalg.gramSchmidt(tf.randomNormal([p, m], 0, 1, "float32", options.seed ?? 0) as tf.Tensor2D) as tf.Tensor2D);
    for (let i = 0; i < iterations; i++) {
      const next = tf.tidy(() => tf.linalg.gramSchmidt(tf.transpose(tf.matMul(M, basis, false, true)) as tf.Tensor2D) as tf.Tensor2D);
      basis.dispose();
      basis = next;
    }
    held.push(basis);
    // Rayleigh–Ritz: B = V·M·Vᵀ [p, p]; its eigenvectors rotate the basis onto M's eigenvectors.
    const ritz = tf.tidy(() => tf.matMul(tf.matMul(basis, M), basis, false, true));
    held.push(ritz);
    const b = await ritz.array();
    const evd = new EigenvalueDecomposition(new Matrix(b as number[][]).add(new Matrix(b as number[][]).transpose()).div(2), { assumeSymmetric: true });
    const order = evd.realEigenvalues.map((v, i) => [v, i]).sort((a, c) => c[0] - a[0]).slice(0, k);
    const rotation = order.map(([, i]) => evd.eigenvectorMatrix.getColumn(i)); // k vectors of length p
    const eps = (await shift.data())[0];
    const lambdas = order.map(([v]) => Math.max(v - eps, 0));
    const scoresT = tf.tidy(() => {
      const vectors = tf.matMul(tf.tensor2d(rotation), basis); // [k, m], unit eigenvectors of M
      if (useGram) return tf.mul(vectors, tf.sqrt(tf.tensor2d(lambdas, [k, 1]))); // U·√λ
      return tf.matMul(vectors, centred, false, true); // (Xc·W)ᵀ
    });
    held.push(scoresT);
    const total = tf.tidy(() => tf.sum(tf.square(centred)));
    held.push(total);
    const [rows, totalSS] = [(await scoresT.array()) as number[][], (await total.data())[0]];
    // A component's sign is arbitrary: make its largest-magnitude score positive, so results are reproducible.
    for (const row of rows) {
      const big = row.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
      if (big < 0) for (let i = 0; i < row.length; i++) row[i] = -row[i];
    }
    const dof = Math.max(n - 1, 1);
    return {
      scores: Array.from({ length: n }, (_, i) => rows.map((r) => r[i])),
      variance: lambdas.map((l) => l / dof),
      explainedRatio: lambdas.map((l) => (totalSS > 0 ? l / totalSS : 0)),
      totalVariance: totalSS / dof,
    };
  } finally {
    tf.dispose(held);
  }
}
