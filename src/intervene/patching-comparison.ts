// Attribution patching against activation patching, cell by cell: how well the linear estimate ranks the cells
// (Spearman's rank correlation, overall and per component), how close the values are (Pearson), and the cells
// where the estimate fails (normalised error above a threshold), worst first.
import { ArgumentError } from "../errors";
import { tableOf, type Table } from "../probe/table";
import type { PatchComponent } from "./activation-patching";
import type { PatchingResult } from "./patching-result";

/** The error threshold above which compareAttribution() counts a cell as failing. */
export interface PatchingComparisonOptions {
  /** A cell fails when |attribution − exact| (normalised metric, 0 = corrupted, 1 = clean) exceeds this (default 0.2). */
  threshold?: number;
}

/** What compareAttribution() returns (display/charts/patching.ts draws it: attributionComparisonChart). */
export interface PatchingComparison {
  kind: "attribution-comparison";
  /** component, layer, head, position, input_token, exact, attribution, error (attribution − exact): every common cell. */
  table: Table;
  /** Cells whose |error| exceeds the threshold, largest first (same columns). */
  failures: Table;
  /** Spearman's ρ and Pearson's r over every cell, and per component. */
  spearman: number;
  pearson: number;
  byComponent: Partial<Record<PatchComponent, { spearman: number; pearson: number; cells: number; failures: number; maxError: number }>>;
  threshold: number;
  /** The two results compared. */
  exact: PatchingResult;
  attribution: PatchingResult;
}

interface Row {
  component: PatchComponent;
  layer: number;
  head: number | null;
  position: number | null;
  input_token: string | null;
  metric: number;
}

/** Attribution patching against activation patching, cell by cell: rank and linear correlation, and the cells where the estimate fails. */
export function compareAttribution(exact: PatchingResult, attribution: PatchingResult, opts: PatchingComparisonOptions = {}): PatchingComparison {
  const threshold = opts.threshold ?? 0.2;
  if (!(threshold > 0)) throw new ArgumentError("threshold", `is ${threshold}`, "use a positive number (normalised metric units)");
  if (exact.direction !== attribution.direction) throw new ArgumentError("attribution", `patches in direction "${attribution.direction}", exact in "${exact.direction}"`, "run both with the same direction");
  const key = (r: Row) => `${r.component}|${r.layer}|${r.head}|${r.position}`;
  const approx = new Map((attribution.table.objects() as Row[]).map((r) => [key(r), r.metric]));
  const rows = (exact.table.objects() as Row[]).filter((r) => approx.has(key(r)));
  if (rows.length < 2) throw new ArgumentError("attribution", "shares fewer than two grid cells with the exact result", "run both over the same components, layers and positions");
  const ex = rows.map((r) => r.metric);
  const ap = rows.map((r) => approx.get(key(r))!);
  const err = ap.map((a, i) => a - ex[i]);
  const table = tableOf({
    component: rows.map((r) => r.component),
    layer: rows.map((r) => r.layer),
    head: rows.map((r) => r.head),
    position: rows.map((r) => r.position),
    input_token: rows.map((r) => r.input_token),
    exact: ex,
    attribution: ap,
    error: err,
  });
  const failing = err.map((e, i) => i).filter((i) => Math.abs(err[i]) > threshold).sort((a, b) => Math.abs(err[b]) - Math.abs(err[a]));
  const failures = tableOf(Object.fromEntries(table.columnNames().map((c) => [c, failing.map((i) => (table.array(c) as unknown[])[i])])));
  const byComponent: PatchingComparison["byComponent"] = {};
  for (const component of [...new Set(rows.map((r) => r.component))]) {
    const idx = rows.map((r, i) => (r.component === component ? i : -1)).filter((i) => i >= 0);
    const e = idx.map((i) => ex[i]);
    const a = idx.map((i) => ap[i]);
    byComponent[component] = {
      spearman: spearman(e, a),
      pearson: pearson(e, a),
      cells: idx.length,
      failures: idx.filter((i) => Math.abs(err[i]) > threshold).length,
      maxError: Math.max(...idx.map((i) => Math.abs(err[i]))),
    };
  }
  return {
    kind: "attribution-comparison",
    table,
    failures,
    spearman: spearman(ex, ap),
    pearson: pearson(ex, ap),
    byComponent,
    threshold,
    exact,
    attribution,
  };
}

/** Pearson's correlation; NaN when either side is constant. */
export function pearson(x: number[], y: number[]): number {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman's ρ: Pearson's correlation of the ranks, ties sharing their mean rank. */
export function spearman(x: number[], y: number[], tieTolerance = 1e-6): number {
  return pearson(ranks(x, tieTolerance), ranks(y, tieTolerance));
}

/**
 * Average ranks, values within `tolerance` of the run's first counting as ties: cells with no effect are 0 up to
 * float32 noise whose size and sign depend on the backend's op order, and that noise must not decide their ranks.
 */
function ranks(v: number[], tolerance: number): number[] {
  const order = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && v[order[j + 1]] - v[order[i]] <= tolerance) j++;
    for (let k = i; k <= j; k++) r[order[k]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}
