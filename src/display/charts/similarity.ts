// Layer-to-layer similarity heatmap (cosine similarity of residual streams), symmetric, diverging colours.
import { DisplayError } from "../../errors";
import { Chart } from "../chart";
import { explainerOf } from "../explainers";
import type { TableLike } from "../table-html";
import { DIVERGING_SCHEME, nonEmpty, rowsOf } from "./common";
import { heatmapSpec } from "./heatmap";

/** Options of similarityChart(): the columns of the two layers and of the value. */
export interface SimilarityChartOptions {
  /** Column of the first layer (default: the first of layer_a, layer_i, layer, row, i that exists). */
  x?: string;
  /** Column of the second layer (default: the first of layer_b, layer_j, other_layer, col, j that exists). */
  y?: string;
  /** Column of the similarity (default: the first of similarity, cosine, value that exists). */
  value?: string;
  /** Which matrix when the table has a "scope" column: "last" (last position, default) or "flat" (all positions). */
  scope?: string;
  title?: string;
}

function pick(names: string[], given: string | undefined, candidates: string[], role: string): string {
  if (given) return given;
  const found = candidates.find((c) => names.includes(c));
  if (!found) {
    throw new DisplayError("similarity chart", `no ${role} column among ${names.map((n) => `"${n}"`).join(", ")} (looked for ${candidates.join(", ")})`, `name it with the option { ${role}: "<column>" }`);
  }
  return found;
}

/** Heatmap of a layer × layer similarity table. */
export function similarityChart(table: TableLike, options: SimilarityChartOptions = {}): Chart {
  const name = "similarity chart";
  const names = table.columnNames();
  const x = pick(names, options.x, ["layer_a", "layer_i", "layer", "row", "i"], "x");
  const y = pick(names, options.y, ["layer_b", "layer_j", "other_layer", "col", "j"], "y");
  const value = pick(names, options.value, ["similarity", "cosine", "value"], "value");
  let rows = nonEmpty(rowsOf(table, [x, y, value], name), name);
  let scopeText = "";
  if (names.includes("scope")) {
    const scopes = [...new Set(rows.map((r) => String(r.scope)))];
    const scope = options.scope ?? (scopes.includes("last") ? "last" : scopes[0]);
    if (!scopes.includes(scope)) throw new DisplayError(name, `scope "${scope}" is not in the table (it has ${scopes.join(", ")})`, "pick one of those scopes");
    rows = rows.filter((r) => String(r.scope) === scope);
    scopeText = scope === "last" ? ", last position" : scope === "flat" ? ", all positions" : `, ${scope}`;
  }
  const data = rows.map((r) => ({ a: Number(r[x]), b: Number(r[y]), similarity: Number(r[value]) }));
  const count = new Set(data.map((d) => d.a)).size;
  const spec = heatmapSpec({
    title: options.title ?? `Layer similarity (cosine of residual streams${scopeText})`,
    rows: data,
    x: { field: "a", title: "layer" },
    y: { field: "b", title: "layer", sort: "descending" },
    color: { field: "similarity", title: "cosine", scheme: DIVERGING_SCHEME, domain: [-1, 1], domainMid: 0 },
    tooltip: [
      { field: "a", title: "layer", type: "ordinal" },
      { field: "b", title: "other layer", type: "ordinal" },
      { field: "similarity", title: "cosine similarity", type: "quantitative", format: ".4f" },
    ],
    xCount: count,
    yCount: new Set(data.map((d) => d.b)).size,
  });
  return new Chart(spec, `Layer similarity: ${count} × ${count} cosine matrix`, explainerOf("similarityChart"));
}
