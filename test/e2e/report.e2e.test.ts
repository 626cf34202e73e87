// The standalone report at a real prompt length (the demo model, T = 256, rasters for attention) draws every
// section in Chromium with JavaScript on (every chart interactive, raster images restored into the live view) and
// off (every chart's static SVG with its images); a non-Latin prompt renders with real glyphs, not empty boxes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { probeSections } from "../../src/cli/probe-sections";
import { reportHtml } from "../../src/display/report";
import { loadModel } from "../../src/load";
import { CHROMIUM, OUTPUT } from "./harness";
import { chartStates, launchBrowser, waitForCharts, type Browser } from "./browser";

const TEXT = "The capital of France is Paris. The capital of Italy is Rome. When Mary and John went to the store, John gave a drink to Mary. ";
/** Sections of the report: every analysis probeSections ran (set when the report is written). */
let SECTIONS = 0;

// Per chart: the raster images of its static SVG and of its live view (hrefs are data: URLs).
const IMAGES_JS = `[...document.querySelectorAll(".lmprobe-chart")].map(function (h) {
  function hrefs(root) { return root ? [...root.querySelectorAll("image")].map(function (i) { return (i.getAttribute("href") || i.getAttribute("xlink:href") || "").slice(0, 22); }) : []; }
  return { static: hrefs(h.querySelector(".lmprobe-static")), live: hrefs(h.querySelector(".lmprobe-live")) };
})`;

const SECTIONS_JS = `[...document.querySelectorAll("main section")].map(function (s) {
  return { id: s.id, charts: s.querySelectorAll(".lmprobe-chart").length, tables: s.querySelectorAll("table").length, visible: s.offsetHeight > 0 };
})`;

// Draws text on a canvas in the page's font and compares it with a code point no font has (an empty box, "tofu"):
// a script with real glyphs draws different pixels.
const GLYPHS_JS = `(function (text) {
  function draw(t) {
    var c = document.createElement("canvas"); c.width = 200; c.height = 40;
    var x = c.getContext("2d"); x.font = "24px " + getComputedStyle(document.body).fontFamily; x.fillText(t, 4, 30);
    return Array.prototype.join.call(x.getImageData(0, 0, 200, 40).data, ",");
  }
  var tofu = draw(Array.from(text).map(function () { return "\\u{10FFFD}"; }).join(""));
  return Array.from(text).map(function (ch) { return { ch: ch, drawn: draw(ch) !== draw("\\u{10FFFD}") && draw(ch) !== draw("") }; }).concat([{ ch: "all", drawn: draw(text) !== tofu }]);
})`;

describe("the report at T = 256 in Chromium", { skip: existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`, timeout: 600_000 }, () => {
  let browser: Browser;
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-report-e2e-"));
  const file = path.join(dir, "report.html");
  const cjkFile = path.join(dir, "report-cjk.html");

  before(async () => {
    const model = await loadModel("demo", { backend: "wasm" });
    try {
      const ids = (model.toTokens(TEXT.repeat(40), { prependBos: false }) as number[]).slice(0, 256);
      const sections = await probeSections(model, { prompt: ids, k: 5, targets: [] });
      SECTIONS = sections.length;
      assert.ok(SECTIONS >= 7, "the report has its analyses");
      writeFileSync(file, reportHtml({ title: "T = 256", sections }));
      const prompt = "東京は日本の首都です 🙂 The capital of France is";
      writeFileSync(cjkFile, reportHtml({ title: "non-Latin", facts: [["prompt", prompt]], sections: await probeSections(model, { prompt, k: 3, targets: [] }) }));
    } finally {
      model.dispose();
    }
    browser = await launchBrowser();
    mkdirSync(OUTPUT, { recursive: true });
  });
  after(async () => browser?.close());

  test("JavaScript on: every section drawn, every chart interactive, raster images restored in the live view", async () => {
    const opened = await browser.open(file, { javaScript: true });
    await waitForCharts(opened.page, 120_000);
    const sections = (await opened.page.evaluate(SECTIONS_JS)) as Array<{ id: string; charts: number; tables: number; visible: boolean }>;
    assert.equal(sections.length, SECTIONS);
    for (const s of sections) assert.ok(s.visible && s.charts + s.tables > 0, `${s.id} draws something`);
    const states = await chartStates(opened.page);
    assert.ok(states.every((s) => s.drawn === "interactive" && s.liveMarks > 0), JSON.stringify(states.map((s) => [s.id, s.drawn, s.liveMarks])));
    const images = (await opened.page.evaluate(IMAGES_JS)) as Array<{ static: string[]; live: string[] }>;
    const rasters = images.filter((i) => i.static.length > 0);
    assert.ok(rasters.length >= 2, "the attention overview and the top heads are rasters");
    for (const r of rasters) {
      assert.ok(r.live.length > 0 && r.live.every((h) => h === "data:image/png;base64,"), `live view draws the PNGs: ${JSON.stringify(r.live)}`);
    }
    assert.deepEqual(opened.consoleErrors.filter((e) => !/Failed to load resource/.test(e)), []);
    await opened.page.screenshot({ path: path.join(OUTPUT, "report-256.png"), fullPage: true });
    await opened.close();
  });

  test("JavaScript off: every section and every chart's static drawing, images included", async () => {
    const opened = await browser.open(file, { javaScript: false });
    const sections = (await opened.page.evaluate(SECTIONS_JS)) as Array<{ id: string; charts: number; tables: number; visible: boolean }>;
    assert.equal(sections.length, SECTIONS);
    for (const s of sections) assert.ok(s.visible && s.charts + s.tables > 0, `${s.id} draws something`);
    const states = await chartStates(opened.page);
    assert.ok(states.length > 0 && states.every((s) => s.staticVisible && s.staticMarks > 0));
    const images = (await opened.page.evaluate(IMAGES_JS)) as Array<{ static: string[] }>;
    assert.ok(images.filter((i) => i.static.length > 0).length >= 2);
    for (const i of images) assert.ok(i.static.every((h) => h === "data:image/png;base64,"));
    await opened.close();
  });

  test("a non-Latin prompt: CJK and emoji drawn with real glyphs, labels without U+FFFD", async () => {
    const opened = await browser.open(cjkFile, { javaScript: true });
    await waitForCharts(opened.page, 120_000);
    const text = (await opened.page.evaluate("document.body.innerText")) as string;
    assert.ok(text.includes("東京は日本の首都です 🙂"), "the prompt shows");
    assert.ok(!text.includes("\uFFFD"), "no replacement characters anywhere on the page");
    const svgText = (await opened.page.evaluate(`[...document.querySelectorAll(".lmprobe-live svg text")].map(function (t) { return t.textContent; }).join(" ")`)) as string;
    assert.ok(/[東京日本首都]/.test(svgText), "chart labels carry the characters");
    const glyphs = (await opened.page.evaluate(`${GLYPHS_JS}(${JSON.stringify("東京🙂")})`)) as Array<{ ch: string; drawn: boolean }>;
    for (const g of glyphs) assert.ok(g.drawn, `${g.ch} is drawn with a glyph (fonts-noto-cjk, fonts-noto-color-emoji)`);
    await opened.page.screenshot({ path: path.join(OUTPUT, "report-cjk.png"), fullPage: true });
    await opened.close();
  });
});
