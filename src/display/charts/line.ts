// Lines over layers (trajectory of a target token, entropy, residual norms): one line per series, points on
// every layer, tooltips.
import { CONFIG, SCHEMA, type Row } from "./common";

export interface LineOptions {
  title: string;
  rows: Row[];
  x: { field: string; title: string };
  y: { field: string; title: string; scale?: Record<string, unknown>; format?: string };
  /** One line per distinct value of this field (with a legend); absent: a single line. */
  series?: { field: string; title: string; sort?: unknown[] };
  tooltip: Array<{ field: string; title: string; type?: "nominal" | "quantitative" | "ordinal"; format?: string }>;
}

export function lineSpec(o: LineOptions): Record<string, unknown> {
  const encoding: Record<string, unknown> = {
    x: { field: o.x.field, type: "quantitative", title: o.x.title, axis: { tickMinStep: 1, format: "d" } },
    y: { field: o.y.field, type: "quantitative", title: o.y.title, ...(o.y.scale ? { scale: o.y.scale } : {}), axis: o.y.format ? { format: o.y.format } : {} },
    tooltip: o.tooltip.map((t) => ({ field: t.field, title: t.title, type: t.type ?? "nominal", ...(t.format ? { format: t.format } : {}) })),
  };
  if (o.series) encoding.color = { field: o.series.field, type: "nominal", title: o.series.title, ...(o.series.sort ? { sort: o.series.sort } : {}), scale: { scheme: "dark2" } };
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: o.rows },
    width: 420,
    height: 240,
    mark: { type: "line", point: { filled: true, size: 40 }, strokeWidth: 2 },
    encoding,
    config: CONFIG,
  };
}
