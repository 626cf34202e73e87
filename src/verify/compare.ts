// Elementwise comparison with the reference: |ours − ref| ≤ atol + rtol·|ref|, reporting the largest absolute
// difference and the worst ratio of a difference to its allowance (≤ 1 passes).

/** An element passes when |engine − reference| ≤ atol + rtol·|reference|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** How one tensor compares with its reference: pass, max |diff|, worst ratio to the allowance. */
export interface TensorComparison {
  ok: boolean;
  maxAbsDiff: number;
  /** max over elements of |ours − ref| / (atol + rtol·|ref|); NaN or Infinity in ours gives Infinity. */
  worstRatio: number;
  /** Flat index of the worst element, or -1. */
  worstIndex: number;
  shape: number[];
  /** Why the comparison could not be made (shape mismatch), if so. */
  problem?: string;
}

export function compareArrays(ours: ArrayLike<number>, ref: ArrayLike<number>, shape: number[], tol: Tolerance): TensorComparison {
  if (ours.length !== ref.length) {
    return { ok: false, maxAbsDiff: Infinity, worstRatio: Infinity, worstIndex: -1, shape, problem: `engine gives ${ours.length} values, reference ${ref.length}` };
  }
  let maxAbsDiff = 0;
  let worstRatio = 0;
  let worstIndex = -1;
  for (let i = 0; i < ref.length; i++) {
    const a = ours[i];
    const b = ref[i];
    // Equal infinities (a masked logit) agree; anything non-finite on one side only does not.
    const diff = a === b ? 0 : Math.abs(a - b);
    const ratio = Number.isNaN(diff) ? Infinity : diff / (tol.atol + tol.rtol * Math.abs(b));
    if (diff > maxAbsDiff || Number.isNaN(diff)) maxAbsDiff = Number.isNaN(diff) ? Infinity : diff;
    if (ratio > worstRatio || (worstIndex === -1 && ratio === worstRatio)) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  return { ok: worstRatio <= 1, maxAbsDiff, worstRatio, worstIndex, shape };
}

/** The index of a flat offset in a shape, e.g. [2, 5, 17]. */
export function unravelIndex(flat: number, shape: number[]): number[] {
  const out = new Array(shape.length).fill(0);
  for (let i = shape.length - 1; i >= 0; i--) {
    out[i] = flat % shape[i];
    flat = Math.floor(flat / shape[i]);
  }
  return out;
}
