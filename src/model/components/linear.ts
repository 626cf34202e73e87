// Matrix products arranged for tfjs-wasm's fast path. tfjs-wasm runs a matmul through XNNPACK only when neither
// side is transposed and neither has a batch of more than one matrix; otherwise it falls back to a plain loop
// about ten times slower (measured: a GPT-2-sized tied unembedding at 128 positions took ~6 s instead of ~0.35 s,
// attention scores of 12 heads × 512 positions 191 ms instead of 62 ms). On wasm these helpers rearrange the
// product onto the fast path (the same dot products); other backends get tf.matMul as written.
import * as tf from "@tensorflow/tfjs-core";
import { capability, fusedLinear, fusedLinearResidual } from "../../backend/capabilities";
import { isPacked, weightMatMul, weightMatMulTransposed, type Weight2D } from "../../backend/packed-weight";

/** Below this many multiply-adds per matrix, the plain loop beats splitting a batch (measured on wasm). */
const SPLIT_MIN_MACS = 1 << 17;

const onWasm = () => capability("untransposedMatMul");

/** x [rows, d] @ Wᵀ for weights W [n, d] (a tied unembedding's W_E): computed as (W @ xᵀ)ᵀ on wasm. */
export function matMulTransposedWeight(x: tf.Tensor2D, W: Weight2D): tf.Tensor2D {
  if (isPacked(W)) return weightMatMulTransposed(x, W);
  if (!onWasm()) return tf.matMul(x, W, false, true);
  return tf.tidy(() => tf.transpose(tf.matMul(W, tf.transpose(x))) as tf.Tensor2D);
}

/**
 * a [...batch, m, k] @ b [...batch, k, n] (or @ bᵀ for b [...batch, n, k] when transposeB), with the same batch
 * dimensions on both sides (attention's per-head products). On wasm, when each product is large enough, the batch
 * is split into single matrices (and bᵀ made explicit) so that each runs on XNNPACK.
 */
export function batchedMatMul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
  const batchShape = a.shape.slice(0, -2);
  const [m, k] = a.shape.slice(-2);
  const n = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1];
  if (!onWasm() || m * k * n < SPLIT_MIN_MACS) return tf.matMul(a, b, false, transposeB);
  return tf.tidy(() => {
    const batch = batchShape.reduce((x, y) => x * y, 1);
    const left = tf.reshape(a, [batch, m, k]);
    const right = transposeB ? tf.transpose(tf.reshape(b, [batch, n, k]), [0, 2, 1]) : tf.reshape(b, [batch, k, n]);
    const lefts = batch === 1 ? [left] : tf.split(left, batch, 0);
    const rights = batch === 1 ? [right] : tf.split(right, batch, 0);
    const products = lefts.map((l, i) => tf.matMul(l, rights[i])); // [1, m, k] @ [1, k, n]: XNNPACK
    return tf.reshape(batch === 1 ? products[0] : tf.concat(products, 0), [...batchShape, m, n]);
  });
}

/**
 * x [rows, in] @ W + b, plus `residual` [rows, out] when given: a block's output projection (attention's W_O,
 * the MLP's W_out). On webgpu the bias and the residual add ride in the matmul's epilogue where the kernel takes
 * the shapes; elsewhere (and for shapes it does not take) the same adds run as separate ops, in that order.
 */
export function outputProjection(x: tf.Tensor2D, W: Weight2D, b: tf.Tensor1D | null, residual: tf.Tensor2D | null): tf.Tensor2D {
  if (isPacked(W)) return weightMatMul(x, W, b, residual);
  const withResidual = residual ? fusedLinearResidual(x, W, b, residual) : null;
  if (withResidual) return withResidual as tf.Tensor2D;
  let out: tf.Tensor | null = fusedLinear(x, W, b);
  if (!out) {
    out = tf.matMul(x, W);
    if (b) out = tf.add(out, b);
  }
  return (residual ? tf.add(residual, out) : out) as tf.Tensor2D;
}

/**
 * x [rows, in] @ W + b: a projection (q, k, v, an MLP's input). A packed weight (bf16/f16 kept on the GPU) is read by
 * its own kernel, which also adds the bias; float32 weights take tf.fused.matMul on webgpu, matMul then add elsewhere.
 */
export function linearProjection(x: tf.Tensor2D, W: Weight2D, b: tf.Tensor1D | null): tf.Tensor2D {
  if (isPacked(W)) return weightMatMul(x, W, b);
  const fused = fusedLinear(x, W, b);
  if (fused) return fused;
  return (b ? tf.add(tf.matMul(x, W), b) : tf.matMul(x, W)) as tf.Tensor2D;
}
