// The one switch between the engine's fast paths and differentiable ones. lmprobe's own kernels (the fused
// WebGPU row kernels, in-place head products, the residual epilogue) have no registered gradients; while a
// gradient is being taken, every capability check that could select such a kernel must answer "not available",
// so the forward pass composes tfjs ops whose gradients tfjs-core defines. A kernel that is picked anyway would
// make tfjs throw ("gradient function not found"); it must never give silent zeros.
let depth = 0;

/** True while a gradient is being taken: kernels without a gradient must decline (return null, fall back). */
export function differentiableOpsRequired(): boolean {
  return depth > 0;
}

/** Runs fn with only differentiable kernels selectable (nests; restored when fn returns or throws). */
export function withDifferentiableOps<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}
