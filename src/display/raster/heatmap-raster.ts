// Dense heatmaps as PNG rasters: one pixel per cell through the chart's own Vega colour scheme, so the static
// drawing of an L×H×T² attention stack is a few images instead of millions of SVG rectangles. Also the two
// reductions the overviews need: pooling (a long pattern as a thumbnail) and tiling (a layer × head grid of
// thumbnails as ONE image).
import { DisplayError } from "../../errors";
import { schemeColours } from "../svg";
import { encodePalettePng, pngDataUrl } from "./png";

/** Palette index of a cell with no value (NaN: masked, padding between tiles). */
export const BLANK = 255;
/** Colours of the ramp: indices 0 … RAMP-1; the last palette entry is the blank colour. */
export const RAMP = 255;
const BLANK_COLOUR: [number, number, number] = [255, 255, 255];

export interface ColourScale {
  /** A continuous Vega scheme: "blues", "redblue", … */
  scheme: string;
  domain: [number, number];
}

/** A 256-entry palette: the scheme sampled at RAMP points, then the blank colour. */
export function paletteOf(scheme: string): Array<[number, number, number]> {
  return [...schemeColours(scheme, RAMP), BLANK_COLOUR];
}

/** Palette index of a value: its place in the domain on the ramp (clamped); NaN is blank. */
export function colourIndex(value: number, [lo, hi]: [number, number]): number {
  if (!Number.isFinite(value)) return BLANK;
  const t = hi > lo ? (value - lo) / (hi - lo) : 0.5;
  return Math.max(0, Math.min(RAMP - 1, Math.round(t * (RAMP - 1))));
}

export interface Raster {
  width: number;
  height: number;
  /** The PNG bytes and the same as a data: URL (what the chart spec carries). */
  png: Buffer;
  url: string;
}

/** A row-major grid of values (NaN = blank) as a PNG raster, one pixel per cell. */
export function rasterOf(values: ArrayLike<number>, width: number, height: number, scale: ColourScale): Raster {
  if (values.length !== width * height) throw new DisplayError("raster heatmap", `has ${values.length} values for ${width} × ${height} cells`, "pass one value per cell");
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < pixels.length; i++) pixels[i] = colourIndex(values[i], scale.domain);
  const png = encodePalettePng(width, height, pixels, paletteOf(scale.scheme));
  return { width, height, png, url: pngDataUrl(png) };
}

/**
 * Pools a rows × cols grid to at most `max` × `max` cells (blocks of ceil(n / max)) by the mean or the maximum of
 * each block; NaN cells are left out and a block of only NaN stays NaN. The grid is unchanged when it already fits.
 */
export function poolGrid(values: ArrayLike<number>, rows: number, cols: number, max: number, reduce: "mean" | "max" = "mean"): { values: Float32Array; rows: number; cols: number; block: number } {
  const block = Math.max(1, Math.ceil(Math.max(rows, cols) / max));
  const outRows = Math.ceil(rows / block);
  const outCols = Math.ceil(cols / block);
  const sums = new Float64Array(outRows * outCols);
  const counts = new Uint32Array(outRows * outCols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = values[r * cols + c];
      if (!Number.isFinite(v)) continue;
      const o = Math.floor(r / block) * outCols + Math.floor(c / block);
      if (reduce === "max") sums[o] = counts[o] === 0 ? v : Math.max(sums[o], v);
      else sums[o] += v;
      counts[o]++;
    }
  }
  const out = new Float32Array(outRows * outCols);
  for (let i = 0; i < out.length; i++) out[i] = counts[i] === 0 ? NaN : reduce === "max" ? sums[i] : sums[i] / counts[i];
  return { values: out, rows: outRows, cols: outCols, block };
}

/**
 * Tiles equally sized grids into one image: tiles[row][col], each `tileRows` × `tileCols`, separated by `gap`
 * blank cells. Returns the values of the whole mosaic (NaN in the gaps).
 */
export function tileGrids(tiles: Array<Array<ArrayLike<number>>>, tileRows: number, tileCols: number, gap = 1): { values: Float32Array; width: number; height: number } {
  const gridRows = tiles.length;
  const gridCols = Math.max(...tiles.map((t) => t.length));
  const width = gridCols * tileCols + (gridCols - 1) * gap;
  const height = gridRows * tileRows + (gridRows - 1) * gap;
  const values = new Float32Array(width * height).fill(NaN);
  tiles.forEach((row, gr) =>
    row.forEach((tile, gc) => {
      const x0 = gc * (tileCols + gap);
      const y0 = gr * (tileRows + gap);
      for (let r = 0; r < tileRows; r++) for (let c = 0; c < tileCols; c++) values[(y0 + r) * width + x0 + c] = tile[r * tileCols + c];
    }),
  );
  return { values, width, height };
}
