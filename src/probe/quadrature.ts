// Nodes and weights on [0, 1] for the path integral of integrated gradients. Gauss–Legendre integrates a
// polynomial of degree 2n − 1 exactly with n nodes (Captum's default for the same reason); the trapezoid rule is
// the plain Riemann sum including both ends. Written here because it is 30 lines and no maintained JS numerics
// package of the project's dependencies provides it.
import { ArgumentError } from "../errors";

export type IntegrationRule = "gauss-legendre" | "riemann-trapezoid";

export interface Quadrature {
  /** α in [0, 1]. */
  nodes: number[];
  /** Σ weights = 1. */
  weights: number[];
}

export function quadrature(rule: IntegrationRule, steps: number): Quadrature {
  if (!Number.isInteger(steps) || steps < 2 || steps > 4096) throw new ArgumentError("steps", `is ${steps}`, "use an integer from 2 to 4096");
  if (rule === "riemann-trapezoid") {
    const nodes = Array.from({ length: steps }, (_, i) => i / (steps - 1));
    const weights = nodes.map((_, i) => (i === 0 || i === steps - 1 ? 0.5 : 1) / (steps - 1));
    return { nodes, weights };
  }
  if (rule !== "gauss-legendre") throw new ArgumentError("integration", `is ${JSON.stringify(rule)}`, 'use "gauss-legendre" or "riemann-trapezoid"');
  return gaussLegendre(steps);
}

/** Roots of the Legendre polynomial P_n by Newton's method from Chebyshev-like guesses, mapped onto [0, 1]. */
function gaussLegendre(n: number): Quadrature {
  const nodes: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 1;
    for (let iter = 0; iter < 100; iter++) {
      // P_n(x) and P_n'(x) by the three-term recurrence.
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      dp = (n * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-15) break;
    }
    nodes.push((1 - x) / 2);
    weights.push(1 / ((1 - x * x) * dp * dp)); // 2 / ((1 − x²) P'(x)²), halved for [0, 1]
  }
  return { nodes, weights };
}
