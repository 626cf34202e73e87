// The grid most lmprobe charts share (lens, similarity, patching, routing): rect cells coloured by a value,
// optionally labelled with text whose colour flips on dark cells, tooltips on every cell.
import { CONFIG, SCHEMA, cellSize, type Row } from "./common";
import { rasterOf } from "../raster/heatmap-raster";
import { rasterHeatmapSpec } from "./raster-heatmap";

/** Above this many cells a heatmap without cell text is drawn as a PNG raster rather than one rectangle a cell. */
export const RASTER_CELLS = 4096;
/** Up to this many cells, each cell of a vector heatmap carries an aria-label. */
export const ARIA_CELLS = 256;

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
  if (!o.text && o.xCount * o.yCount > RASTER_CELLS) return rasterSpec(o);
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
  // Vega writes every tooltip field into an aria-label on each cell: about two thirds of the static SVG of a big
  // lens grid. Past ARIA_CELLS cells they are left out (the interactive view keeps its tooltips, the table holds
  // the numbers); smaller grids keep them for screen readers.
  const aria = o.xCount * o.yCount <= ARIA_CELLS;
  const tooltip = o.tooltip.map((t) => ({ field: t.field, title: t.title, type: t.type ?? "nominal", ...(t.format ? { format: t.format } : {}) }));
  const layers: unknown[] = [
    {
      mark: { type: "rect", stroke: "#ffffff", strokeWidth: 0.5, ...(aria ? {} : { aria: false }) },
      encoding: {
        color: { field: o.color.field, type: "quantitative", title: o.color.title, scale, legend: { format: o.color.format ?? ".2f" } },
        tooltip,
      },
    },
  ];
  if (o.text) {
    layers.push({
      mark: { type: "text", fontSize: 10, limit: (o.cellWidth ?? cellSize(o.xCount)) - 2, ...(aria ? {} : { aria: false }) },
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

/** The band order of one axis: the given sort, else the values present, ascending or descending. */
function bandOrder(rows: Row[], f: HeatmapField): unknown[] {
  if (Array.isArray(f.sort)) return f.sort;
  const present = [...new Set(rows.map((r) => r[f.field]))];
  const numeric = present.every((v) => typeof v === "number");
  present.sort((a, b) => (numeric ? (a as number) - (b as number) : String(a).localeCompare(String(b))));
  return f.sort === "descending" ? present.reverse() : present;
}

/** The same heatmap with its cells as one PNG (no per-cell tooltips: the table holds the numbers). */
function rasterSpec(o: HeatmapOptions): Record<string, unknown> {
  const xs = bandOrder(o.rows, o.x);
  const ys = bandOrder(o.rows, o.y);
  const xIndex = new Map(xs.map((v, i) => [v, i]));
  const yIndex = new Map(ys.map((v, i) => [v, i]));
  const values = new Float32Array(xs.length * ys.length).fill(NaN);
  let lo = Infinity, hi = -Infinity;
  for (const r of o.rows) {
    const x = xIndex.get(r[o.x.field]);
    const y = yIndex.get(r[o.y.field]);
    const v = Number(r[o.color.field]);
    if (x === undefined || y === undefined) continue;
    values[y * xs.length + x] = v;
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const domain = o.color.domain ?? [Number.isFinite(lo) ? lo : 0, Number.isFinite(hi) ? hi : 1];
  const scale = { scheme: o.color.scheme, domain };
  const cell = (n: number) => Math.max(1, Math.min(16, Math.floor(720 / n)));
  return rasterHeatmapSpec({
    title: o.title,
    panels: [{ title: o.title, raster: rasterOf(values, xs.length, ys.length, scale) }],
    xLabels: xs.map(String),
    yLabels: ys.map(String),
    xTitle: o.x.title,
    yTitle: o.y.title,
    colour: { ...scale, title: o.color.title, domainMid: o.color.domainMid, format: o.color.format },
    cellWidth: cell(xs.length),
    cellHeight: cell(ys.length),
  });
}
