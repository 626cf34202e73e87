// Dense heatmaps as PNG rasters: the encoder writes a valid PNG whose pixels are the data's colours, attention at
// real sizes becomes a few images (each carried once in a chart's HTML), long prompts are windowed, and axes are
// labelled with the tokens by default.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import * as zlib from "node:zlib";
import * as aq from "arquero";
import {
  attentionChart, attentionHeadsChart, attentionOverviewChart, logitLensChart, patchingChart, show, windowedPattern, type AttentionStack,
} from "../../src/display";
import { encodePalettePng } from "../../src/display/raster/png";
import { BLANK, colourIndex, paletteOf, poolGrid, rasterOf } from "../../src/display/raster/heatmap-raster";
import { chartHtml } from "../../src/display/chart-html";
import { schemeColours } from "../../src/display/svg";
import { DisplayError } from "../../src/errors";
import { withFakeKernel } from "./fake-kernel";
import { INPUT_TOKENS, attentionTable, lensTable } from "./sample-tables";

const svgTexts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

interface DecodedPng {
  width: number;
  height: number;
  colourType: number;
  palette: Buffer;
  /** Palette index of each pixel, row-major. */
  pixels: Uint8Array;
}

/** Decodes a palette PNG, checking the signature, every chunk's CRC-32 (zlib's own) and the filter bytes. */
function decodePng(png: Buffer): DecodedPng {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  const crc32 = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
  let offset = 8;
  const chunks: Array<{ type: string; data: Buffer }> = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = png.readUInt32BE(offset + 8 + length);
    if (crc32) assert.equal(crc, crc32(png.subarray(offset + 4, offset + 8 + length)) >>> 0, `CRC of ${type}`);
    chunks.push({ type, data });
    offset += 12 + length;
  }
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "PLTE", "IDAT", "IEND"]);
  const ihdr = chunks[0].data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  assert.equal(ihdr[8], 8, "8 bits per pixel");
  const raw = inflateSync(chunks[2].data);
  assert.equal(raw.length, (width + 1) * height);
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width + 1)], 0, "filter type 0");
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, colourType: ihdr[9], palette: chunks[1].data, pixels };
}

const pngOfUrl = (url: string) => Buffer.from(url.slice("data:image/png;base64,".length), "base64");
const rgbAt = (png: DecodedPng, x: number, y: number) => {
  const i = png.pixels[y * png.width + x];
  return [png.palette[i * 3], png.palette[i * 3 + 1], png.palette[i * 3 + 2]];
};

test("PNG: a valid palette image whose pixels are the cells' colours on the chart's scheme", () => {
  const values = [0, 0.25, 0.5, 1, NaN, 0.75];
  const raster = rasterOf(values, 3, 2, { scheme: "blues", domain: [0, 1] });
  const png = decodePng(raster.png);
  assert.equal(png.width, 3);
  assert.equal(png.height, 2);
  assert.equal(png.colourType, 3, "palette colour type");
  const ramp = schemeColours("blues", 255);
  assert.deepEqual(rgbAt(png, 0, 0), ramp[0], "0 is the scheme's first colour");
  assert.deepEqual(rgbAt(png, 0, 1), ramp[254], "1 is the scheme's last colour");
  assert.deepEqual(rgbAt(png, 2, 0), ramp[colourIndex(0.5, [0, 1])]);
  assert.deepEqual(rgbAt(png, 1, 1), [255, 255, 255], "no value: blank");
  assert.equal(png.pixels[4], BLANK);
  assert.notDeepEqual(rgbAt(png, 0, 0), rgbAt(png, 0, 1));
  assert.equal(raster.url.startsWith("data:image/png;base64,"), true);
  assert.throws(() => encodePalettePng(2, 2, new Uint8Array(3), paletteOf("blues")), DisplayError);
  assert.throws(() => rasterOf([1, 2], 3, 1, { scheme: "blues", domain: [0, 1] }), DisplayError);
});

test("pooling keeps the mean or the largest value of each block, blanks aside", () => {
  const grid = [1, 0, 0, 0, 0, 0, NaN, NaN, 0.5];
  const mean = poolGrid(grid, 3, 3, 2);
  assert.equal(mean.block, 2);
  assert.deepEqual([mean.rows, mean.cols], [2, 2]);
  assert.equal(mean.values[0], 0.25);
  assert.ok(Number.isNaN(mean.values[2]), "a block of blanks stays blank");
  assert.equal(poolGrid(grid, 3, 3, 2, "max").values[0], 1);
  assert.equal(poolGrid(grid, 3, 3, 3).values.length, 9, "a grid that fits is unchanged");
});

/** A stack of `layers` × `heads` with T positions: head 0 attends to the previous token, head 1 to the first. */
function stackOf(T: number, layers = 2, heads = 3): AttentionStack {
  const patterns = Array.from({ length: layers }, () => {
    const p = new Float32Array(heads * T * T);
    for (let h = 0; h < heads; h++)
      for (let q = 0; q < T; q++) {
        if (h === 0) p[(h * T + q) * T + Math.max(0, q - 1)] = 1;
        else if (h === 1) p[(h * T + q) * T] = 1;
        else for (let k = 0; k <= q; k++) p[(h * T + q) * T + k] = 1 / (q + 1);
      }
    return p;
  });
  return { layers: Array.from({ length: layers }, (_, l) => l), heads, queries: T, keys: T, patterns, tokens: Array.from({ length: T }, (_, i) => ` w${i}`) };
}

test("attention window: the last positions, earlier keys summed into one column, masked keys blank", () => {
  const stack = stackOf(300);
  const w = windowedPattern(stack, { layer: 1, head: 1 }, 100);
  assert.equal(w.rows, 100);
  assert.equal(w.cols, 101);
  assert.equal(w.colLabels[0], "0–199 (sum)");
  assert.equal(w.rowLabels[0], "200: ·w200");
  for (let r = 0; r < w.rows; r++) assert.equal(w.values[r * w.cols], 1, "all of the first-token head's attention is in the summary column");
  const prev = windowedPattern(stack, { layer: 0, head: 0 }, 100);
  assert.equal(prev.values[0 * prev.cols + 0], 1, "query 200 reads key 199, outside the window");
  assert.equal(prev.values[5 * prev.cols + 5], 1, "query 205 reads key 204 (column 1 + 4)");
  assert.ok(Number.isNaN(prev.values[5 * prev.cols + 7]), "key 206 is after query 205: masked");
  assert.throws(() => windowedPattern(stack, { layer: 5, head: 0 }), /layer 5 is not in the patterns/);
});

test("attention at real size: rasters, each image once in the chart's HTML, no per-cell marks", () => {
  const stack = stackOf(256, 2, 3);
  const chart = attentionHeadsChart(stack, [{ layer: 0, head: 0 }, { layer: 1, head: 2 }]);
  const json = JSON.stringify(chart.spec);
  assert.ok(json.length < 200_000, `spec stays small (${json.length} bytes)`);
  assert.doesNotMatch(json, /"mark":"rect"[^}]*"values":\[\{"x"/, "no per-cell data");
  const panels = (chart.spec.data as { values: Array<{ url: string; panel: string }> }).values;
  assert.deepEqual(panels.map((p) => p.panel), ["L0 H0", "L1 H2"]);
  // The previous-token head: query 255 puts all its weight on key 254, none on itself; key 255 is masked for 254.
  const png = decodePng(pngOfUrl(panels[0].url));
  assert.deepEqual([png.width, png.height], [129, 128], "128 positions and the summary column");
  const ramp = schemeColours("blues", 255);
  assert.deepEqual(rgbAt(png, 127, 127), ramp[254], "query 255 → key 254: weight 1");
  assert.deepEqual(rgbAt(png, 128, 127), ramp[0], "query 255 → key 255: weight 0");
  assert.deepEqual(rgbAt(png, 128, 126), [255, 255, 255], "query 254 → key 255: masked");
  // One copy per fragment: the static SVG carries each image, the spec refers to it.
  const svg = chart.toSvg();
  const html = chartHtml("abc", chart.spec, svg, { includeLibraries: false });
  for (const p of panels) assert.equal(html.split(p.url).length - 1, 1, `${p.panel}'s PNG appears once in the HTML`);
  assert.match(html, /"url":"lmprobe-img:0"/);
  assert.match(html, /data-lmprobe-img="0"/);
  assert.ok(svgTexts(svg).some((t) => t === "128: ·w128"), "query axis labelled with positions and tokens");
  assert.ok(svgTexts(svg).filter((t) => /^\d+: /.test(t)).length < 2 * 60, "labels thinned");
});

test("the layer × head overview is one raster; a notebook bundle of a raster chart carries the drawing once", () => {
  const stack = stackOf(512, 12, 12);
  const overview = attentionOverviewChart(stack);
  const urls = JSON.stringify(overview.spec).match(/data:image\/png;base64,[A-Za-z0-9+/=]+/g)!;
  assert.equal(urls.length, 1, "one image for every head");
  const png = decodePng(pngOfUrl(urls[0]));
  assert.deepEqual([png.width, png.height], [12 * 32 + 11, 12 * 32 + 11], "32-cell thumbnails, 1-cell gaps");
  const ramp = schemeColours("blues", 255);
  assert.deepEqual(rgbAt(png, 33 + 0, 0), ramp[254], "head 1 (first token) of layer 0: its first column is dark");
  assert.deepEqual(rgbAt(png, 32, 0), [255, 255, 255], "the gap between tiles is blank");
  withFakeKernel((sent) => {
    show(overview);
    const bundle = sent[0].data;
    assert.deepEqual(Object.keys(bundle).sort(), ["image/png", "text/html", "text/plain"]);
    const all = JSON.stringify(bundle);
    assert.ok(all.length < 1_000_000, `one chart ≤ 1 MB (${all.length})`);
    const payload = urls[0].slice("data:image/png;base64,".length);
    assert.equal(all.split(payload).length - 1, 2, "the PNG once in the HTML and once as image/png");
  });
});

test("attention charts label axes with the tokens by default; big tables become rasters", () => {
  const table = attentionTable().derive({ key_token: aq.escape((d: { key: number }) => INPUT_TOKENS[d.key]) });
  const svg = attentionChart(table).toSvg();
  assert.ok(svgTexts(svg).includes("3: ·France"), "tokens from the table's key_token column");
  const rows: Record<string, unknown>[] = [];
  const T = 120;
  for (let head = 0; head < 2; head++) for (let q = 0; q < T; q++) for (let k = 0; k <= q; k++) rows.push({ layer: 0, head, query: q, key: k, weight: k === q ? 1 : 0, key_token: `t${k}` });
  const big = attentionChart(aq.from(rows));
  assert.match(JSON.stringify(big.spec), /data:image\/png;base64,/);
  assert.ok(svgTexts(big.toSvg()).includes("119: t119"));
});

test("long prompts: per-position charts show the last positions and say so; big grids become rasters", () => {
  const rows: Record<string, unknown>[] = [];
  for (let layer = 0; layer < 2; layer++) for (let position = 0; position < 100; position++) rows.push({ layer, position, token: "x", rank: 1, prob: 0.5 });
  const lens = logitLensChart(aq.from(rows));
  assert.equal((lens.spec.data as { values: unknown[] }).values.length, 2 * 48);
  assert.match(String(lens.spec.title), /last 48 of 100 positions/);
  const named = logitLensChart(aq.from(rows), { positions: [3, 7] });
  assert.equal((named.spec.data as { values: unknown[] }).values.length, 4);
  assert.throws(() => logitLensChart(aq.from(rows), { positions: [500] }), /positions 500 are not in the table/);
  const patch: Record<string, unknown>[] = [];
  for (let layer = 0; layer < 12; layer++) for (let position = 0; position < 512; position++) patch.push({ layer, position, metric: Math.sin(layer + position) });
  const chart = patchingChart(aq.from(patch));
  assert.ok(JSON.stringify(chart.spec).length < 300_000);
  const url = JSON.stringify(chart.spec).match(/data:image\/png;base64,[A-Za-z0-9+/=]+/)![0];
  const png = decodePng(pngOfUrl(url));
  assert.deepEqual([png.width, png.height], [512, 12]);
  // Layers are drawn top = highest; cell (layer 11, position 0) is the top-left pixel, on the diverging scale.
  const ramp = schemeColours("redblue", 255);
  const extent = Math.max(...patch.map((p) => Math.abs(p.metric as number)));
  assert.deepEqual(rgbAt(png, 0, 0), ramp[colourIndex(Math.sin(11), [-extent, extent])]);
});
