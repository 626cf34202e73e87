// A heatmap whose cells are a PNG raster (see raster/heatmap-raster.ts) drawn by Vega-Lite's image mark, with
// real axes (band scales over the row and column labels, thinned so they stay readable at any length) and the
// colour legend of the same scheme. Several panels (e.g. the top heads) become a facet; a select parameter shows
// one panel at a time where scripts run. The spec carries each PNG once, as a data: URL.
import { CONFIG, SCHEMA } from "./common";
import type { ColourScale, Raster } from "../raster/heatmap-raster";

export interface RasterPanel {
  /** Facet header, unique per panel ("L3 H7"). */
  title: string;
  raster: Raster;
}

export interface RasterHeatmapOptions {
  title: string;
  panels: RasterPanel[];
  /** Labels of the columns and rows, one per band, in drawing order (unique). */
  xLabels: string[];
  yLabels: string[];
  xTitle: string;
  yTitle: string;
  colour: ColourScale & { title: string; domainMid?: number; format?: string };
  /** Pixels per band on screen (the raster is scaled up, pixelated). */
  cellWidth: number;
  cellHeight: number;
  /** Panels per row when faceted (default 4). */
  columns?: number;
  /** Name of the select parameter that picks one panel in the interactive view (default: none). */
  selectName?: string;
}

/** About one label per this many pixels along an axis. */
const LABEL_SPACING_PX = { x: 14, y: 12 };

/** Every k-th label (and the last) so that labels never overlap however many bands there are. */
export function thinLabels(labels: string[], extentPx: number, spacingPx: number): string[] {
  const fit = Math.max(2, Math.floor(extentPx / spacingPx));
  if (labels.length <= fit) return labels;
  const step = Math.ceil(labels.length / fit);
  return labels.filter((_, i) => i % step === 0 || i === labels.length - 1);
}

export function rasterHeatmapSpec(o: RasterHeatmapOptions): Record<string, unknown> {
  const width = Math.max(1, Math.round(o.cellWidth * o.xLabels.length));
  const height = Math.max(1, Math.round(o.cellHeight * o.yLabels.length));
  const scale: Record<string, unknown> = { scheme: o.colour.scheme, domain: o.colour.domain };
  if (o.colour.domainMid !== undefined) scale.domainMid = o.colour.domainMid;
  // Bands for the axes and one row per band: an invisible layer that also carries the colour legend.
  const n = Math.max(o.xLabels.length, o.yLabels.length, 2);
  const axisRows = Array.from({ length: n }, (_, i) => ({ x: o.xLabels[i % o.xLabels.length], y: o.yLabels[i % o.yLabels.length], v: o.colour.domain[i % 2] }));
  const axisLayer = {
    data: { values: axisRows },
    mark: { type: "rect", opacity: 0, aria: false },
    encoding: {
      x: {
        field: "x", type: "ordinal", title: o.xTitle, scale: { domain: o.xLabels, paddingInner: 0, paddingOuter: 0 },
        axis: { values: thinLabels(o.xLabels, width, LABEL_SPACING_PX.x), labelAngle: -45, labelFontSize: o.xLabels.length > 16 ? 9 : 11 },
      },
      y: {
        field: "y", type: "ordinal", title: o.yTitle, scale: { domain: o.yLabels, paddingInner: 0, paddingOuter: 0 },
        axis: { values: thinLabels(o.yLabels, height, LABEL_SPACING_PX.y), labelFontSize: o.yLabels.length > 16 ? 9 : 11 },
      },
      color: { field: "v", type: "quantitative", title: o.colour.title, scale, legend: { format: o.colour.format ?? ".2f" } },
    },
  };
  const imageLayer = (data?: unknown) => ({
    ...(data ? { data } : {}),
    mark: { type: "image", width, height, aspect: false, align: "left", baseline: "top", aria: false },
    encoding: { url: { field: "url", type: "nominal" }, x: { value: 0 }, y: { value: 0 } },
  });
  if (o.panels.length === 1 && !o.selectName) {
    return { $schema: SCHEMA, title: o.title, width, height, layer: [imageLayer({ values: [{ url: o.panels[0].raster.url }] }), axisLayer], config: CONFIG };
  }
  const panels = o.panels.map((p, i) => ({ panel: p.title, panel_index: i, url: p.raster.url }));
  const spec: Record<string, unknown> = {
    $schema: SCHEMA,
    title: o.title,
    data: { values: panels },
    facet: { field: "panel", type: "ordinal", title: null, sort: panels.map((p) => p.panel), header: { labelFontSize: 11 } },
    columns: Math.min(o.columns ?? 4, panels.length),
    spec: { width, height, layer: [imageLayer(), axisLayer] },
    resolve: { axis: { x: "independent", y: "independent" } },
    config: CONFIG,
  };
  if (o.selectName) {
    spec.params = [
      {
        name: o.selectName,
        value: -1,
        bind: { input: "select", options: [-1, ...panels.map((p) => p.panel_index)], labels: ["all shown", ...panels.map((p) => p.panel)], name: "show " },
      },
    ];
    spec.transform = [{ filter: `${o.selectName} < 0 || datum.panel_index == ${o.selectName}` }];
  }
  return spec;
}
