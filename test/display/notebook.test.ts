import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { show, progress, logitLensChart, configureDisplay, inNotebook } from "../../src/display";
import { resetLibrariesSent } from "../../src/display/bundle";
import { withFakeKernel } from "./fake-kernel";
import { INPUT_TOKENS, lensTable } from "./sample-tables";

const CHART_MIMES = ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/html", "text/plain"];

test("outside a kernel nothing is found and show() prints the summary", () => {
  assert.equal(inNotebook(), false);
  const logged: unknown[] = [];
  const original = console.log;
  console.log = (x: unknown) => logged.push(x);
  try {
    show(logitLensChart(lensTable()));
  } finally {
    console.log = original;
  }
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]), /Logit lens: 3 layers × 5 positions/);
});

test("show(chart) sends ONE display message holding all four MIME types", () => {
  withFakeKernel((sent) => {
    show(logitLensChart(lensTable(), { inputTokens: INPUT_TOKENS }));
    assert.equal(sent.length, 1);
    assert.deepEqual(Object.keys(sent[0].data).sort(), [...CHART_MIMES].sort());
    assert.equal(sent[0].update, false);
    assert.equal(typeof sent[0].data["application/vnd.vegalite.v5+json"], "object");
    assert.match(String(sent[0].data["image/svg+xml"]), /^<svg/);
    // The HTML holds the static SVG itself, so it draws with no script and no other cell.
    assert.match(String(sent[0].data["text/html"]), /<div class="lmprobe-static"><svg/);
  });
});

test("the Vega libraries ride along once per session; later charts carry only their SVG and spec", () => {
  resetLibrariesSent();
  configureDisplay({ inlineLibraries: true });
  withFakeKernel((sent) => {
    const chart = logitLensChart(lensTable());
    show(chart);
    show(chart);
    const [first, second] = sent.map((m) => String(m.data["text/html"]));
    assert.ok(first.includes("window.vegaEmbed"), "first chart inlines vega-embed");
    assert.ok(first.length > 500_000, "first chart carries the libraries");
    assert.ok(second.length < 100_000, `second chart is small (${second.length} bytes)`);
    assert.match(second, /<svg/);
  });
  configureDisplay({ inlineLibraries: false });
  resetLibrariesSent();
  withFakeKernel((sent) => {
    show(logitLensChart(lensTable()));
    assert.ok(String(sent[0].data["text/html"]).length < 100_000);
  });
  configureDisplay({ inlineLibraries: true });
});

test("show(table) sends one HTML table message; show() rejects what it cannot display", () => {
  withFakeKernel((sent) => {
    show(lensTable());
    assert.equal(sent.length, 1);
    assert.deepEqual(Object.keys(sent[0].data).sort(), ["text/html", "text/plain"]);
    assert.match(String(sent[0].data["text/html"]), /<table class="lmprobe-table">/);
    assert.throws(() => show(42 as never), /argument "x" cannot be shown/);
  });
});

test("a notebook progress display is one display id, updated in place", () => {
  withFakeKernel((sent) => {
    const p = progress(4, { label: "patching", throttleMs: 0 });
    p.tick();
    p.tick(2);
    p.finish();
    const ids = new Set(sent.map((m) => m.transient.display_id));
    assert.equal(ids.size, 1);
    assert.deepEqual(sent.map((m) => m.update), [false, true, true, true]);
    assert.match(String(sent.at(-1)!.data["text/html"]), /100%/);
    assert.match(String(sent[1].data["text/plain"]), /25% 1\/4/);
  });
});

test("a terminal progress bar redraws one line on a TTY and writes start and end lines elsewhere", () => {
  const capture = (isTTY: boolean) => {
    let out = "";
    const stream = new Writable({ write(chunk, _enc, cb) { out += chunk; cb(); } }) as unknown as NodeJS.WriteStream;
    (stream as { isTTY: boolean }).isTTY = isTTY;
    const p = progress(10, { label: "lens", stream, throttleMs: 0 });
    for (let i = 0; i < 10; i++) p.tick();
    p.finish();
    return out;
  };
  const tty = capture(true);
  assert.equal(tty.split("\r").length - 1, 12); // the start, ten ticks and the finish
  assert.match(tty, /lens \[#{24}\] 100% 10\/10\n$/);
  const log = capture(false);
  assert.deepEqual(log.trim().split("\n").map((l) => l.replace(/\[.*\]/, "[]")), ["lens []   0% 0/10", "lens [] 100% 10/10"]);
  assert.throws(() => progress(-1), /argument "total"/);
});
