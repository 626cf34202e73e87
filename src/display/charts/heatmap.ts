// The grid most lmprobe charts share (lens, similarity, patching, routing): rect cells coloured by a value,
// optionally labelled with text whose colour flips on dark cells, tooltips on every cell.
import { CONFIG, SCHEMA, cellSize, type Row } from "./common";

export interface HeatmapField {
  field: string;
  title: string;
  /** Ordinal fields keep the order given in `sort` (or ascending); the label shown may differ from the value. */
  sort?: unknown[] | "ascending" | "descending";
  labelExpr?: string;
}

export interface HeatmapOptions {
  title: string;
  rows: Row[];
  x: HeatmapField;
  y: HeatmapField;
  color: { field: string; title: string; scheme: string; domain?: [number, number]; domainMid?: number; format?: string };
  /** Text drawn in each cell (e.g. the top token). */
  text?: { field: string; darkAbove: number };
  tooltip: Array<{ field: string; title: string; format?: string; type?: "nominal" | "quantitative" | "ordinal" }>;
  xCount: number;
  yCount: number;
  /** Wider cells when the cells carry text. */
  cellWidth?: number;
}

export function heatmapSpec(o: HeatmapOptions): Record<string, unknown> {
  const width = (o.cellWidth ?? cellSize(o.xCount)) * o.xCount;
  const height = cellSize(o.yCount, 16, 36, 480) * o.yCount;
  const axis = (f: HeatmapField, orient: "x" | "y") => ({
    field: f.field,
    type: "ordinal",
    title: f.title,
    sort: f.sort ?? "ascending",
    axis: { ...(f.labelExpr ? { labelExpr: f.labelExpr } : {}), ...(orient === "x" ? { labelAngle: -45 } : {}) },
  });
  const scale: Record<string, unknown> = { scheme: o.color.scheme };
  if (o.color.domain) scale.domain = o.color.domain;
  if (o.color.domainMid !== undefined) scale.domainMid = o.color.domainMid;
  const tooltip = o.tooltip.map((t) => ({ field: t.field, title: t.title, type: t.type ?? "nominal", ...(t.format ? { format: t.format } : {}) }));
  const layers: unknown[] = [
    {
      mark: { type: "rect", stroke: "#ffffff", strokeWidth: 0.5 },
      encoding: {
        color: { field: o.color.field, type: "quantitative", title: o.color.title, scale, legend: { format: o.color.format ?? ".2f" } },
        tooltip,
      },
    },
  ];
  if (o.text) {
    layers.push({
      mark: { type: "text", fontSize: 10, limit: (o.cellWidth ?? cellSize(o.xCount)) - 2 },
      encoding: {
        text: { field: o.text.field, type: "nominal" },
        color: { condition: { test: `datum['${o.color.field}'] > ${o.text.darkAbove}`, value: "white" }, value: "black" },
        tooltip,
      },
    });
  }
  return {
    $schema: SCHEMA,
    title: o.title,
    data: { values: o.rows },
    width,
    height,
    encoding: { x: axis(o.x, "x"), y: axis(o.y, "y") },
    layer: layers,
    config: CONFIG,
  };
}
