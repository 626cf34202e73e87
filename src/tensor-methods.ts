// Chained tensor methods (`x.reshape(…)`, `x.matMul(…)`) for the CommonJS build of tfjs-core.
//
// tfjs-core registers these methods only from its ES-module files (dist/public/chained_ops/*.js), which a
// CommonJS `require` cannot load in Node 20 and which would, under a loader that allows it, be a second copy
// of tfjs-core. So lmprobe installs them itself, once, on the Tensor class of the tfjs-core instance it uses,
// each forwarding to the functional op of the same name exactly as tfjs's own registration does. The types
// come from tfjs-core's declarations (the `import type` below), so `x.reshape` type-checks as usual.
import * as tf from "@tensorflow/tfjs-core";
import type {} from "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops";

type Op = (...args: unknown[]) => tf.Tensor | tf.Tensor[];
type Method = (this: tf.Tensor, ...args: unknown[]) => unknown;

/** Methods whose chained form differs from `tf[name](this, ...args)`. */
const special: Record<string, Method> = {
  as1D() { return tf.reshape(this, [this.size]); },
  as2D(rows: unknown, cols: unknown) { return tf.reshape(this, [rows as number, cols as number]); },
  as3D(a: unknown, b: unknown, c: unknown) { return tf.reshape(this, [a, b, c] as number[]); },
  as4D(a: unknown, b: unknown, c: unknown, d: unknown) { return tf.reshape(this, [a, b, c, d] as number[]); },
  as5D(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) { return tf.reshape(this, [a, b, c, d, e] as number[]); },
  asScalar() { return tf.reshape(this, []); },
  asType(dtype: unknown) { return tf.cast(this, dtype as tf.DataType); },
  toBool() { return tf.cast(this, "bool"); },
  toFloat() { return tf.cast(this, "float32"); },
  toInt() { return tf.cast(this, "int32"); },
  flatten() { return tf.reshape(this, [this.size]); },
  reshapeAs(other: unknown) { return tf.reshape(this, (other as tf.Tensor).shape); },
  concat(x: unknown, axis: unknown) {
    return tf.concat(x instanceof tf.Tensor ? [this, x] : [this, ...(x as tf.Tensor[])], axis as number | undefined);
  },
  stack(x: unknown, axis: unknown) {
    return tf.stack(x instanceof tf.Tensor ? [this, x] : [this, ...(x as tf.Tensor[])], axis as number | undefined);
  },
  where(condition: unknown, x: unknown) { return tf.where(condition as tf.Tensor, this, x as tf.Tensor); },
};

/** Methods that are `tf[name](this, ...args)`: every chained op tfjs-core declares, less the special ones. */
const forwarded = [
  "abs", "acos", "acosh", "add", "all", "any", "argMax", "argMin", "asin", "asinh", "atan", "atan2", "atanh",
  "avgPool", "batchToSpaceND", "batchNorm", "broadcastTo", "cast", "ceil", "clipByValue", "conv1d", "conv2d",
  "conv2dTranspose", "cos", "cosh", "cumprod", "cumsum", "depthToSpace", "depthwiseConv2d", "dilation2d", "div",
  "divNoNan", "dot", "elu", "equal", "erf", "euclideanNorm", "exp", "expandDims", "expm1", "fft", "floor", "floorDiv",
  "gather", "greater", "greaterEqual", "ifft", "irfft", "isFinite", "isInf", "isNaN", "leakyRelu", "less", "lessEqual",
  "localResponseNormalization", "log", "log1p", "logSigmoid", "logSoftmax", "logSumExp", "logicalAnd", "logicalNot",
  "logicalOr", "logicalXor", "matMul", "max", "maxPool", "maximum", "mean", "min", "minimum", "mirrorPad", "mod", "mul",
  "neg", "norm", "notEqual", "oneHot", "onesLike", "pad", "pool", "pow", "prelu", "prod", "reciprocal", "relu", "relu6",
  "reshape", "resizeBilinear", "resizeNearestNeighbor", "reverse", "rfft", "round", "rsqrt", "selu", "separableConv2d",
  "sigmoid", "sign", "sin", "sinh", "slice", "softmax", "softplus", "spaceToBatchND", "split", "sqrt", "square",
  "squaredDifference", "squeeze", "step", "stridedSlice", "sub", "sum", "tan", "tanh", "tile", "topk", "transpose",
  "unique", "unsortedSegmentSum", "unstack", "zerosLike",
];

function install(): void {
  const proto = tf.Tensor.prototype as unknown as Record<string, Method>;
  const ops = tf as unknown as Record<string, Op>;
  for (const name of forwarded) {
    if (proto[name] !== undefined) continue; // already installed (tfjs's own registration, or a second call)
    const op = ops[name];
    if (typeof op !== "function") continue;
    proto[name] = function (this: tf.Tensor, ...args: unknown[]) {
      this.throwIfDisposed();
      return op(this, ...args);
    };
  }
  for (const [name, method] of Object.entries(special)) {
    if (proto[name] !== undefined) continue;
    proto[name] = function (this: tf.Tensor, ...args: unknown[]) {
      this.throwIfDisposed();
      return method.apply(this, args);
    };
  }
}

install();
