// Size budgets of the report and of notebook charts at a real prompt length (the demo model at T = 256): the
// report stays a few MB, every chart's display bundle ≤ 1 MB, and the drawing grows at most linearly in T (not as
// the T² attention cells).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { probeSections } from "../../src/cli/probe-sections";
import { Chart } from "../../src/display/chart";
import { chartBundle, configureDisplay } from "../../src/display/bundle";
import { attentionChart } from "../../src/display/charts";
import { reportHtml } from "../../src/display/report";
import { vegaLibrariesScript } from "../../src/display/vega-libraries";
import { attentionPatterns } from "../../src/probe/attention";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";

const TEXT = "The capital of France is Paris. The capital of Italy is Rome. When Mary and John went to the store, John gave a drink to Mary. ";
const REPORT_BUDGET = 4_000_000;
const CHART_BUDGET = 1_000_000;

let model: LanguageModel;
const ids = (T: number) => (model.toTokens(TEXT.repeat(40), { prependBos: false }) as number[]).slice(0, T);
before(async () => {
  model = await loadModel("demo", { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" });
});
after(() => {
  model?.dispose();
  configureDisplay({ inlineLibraries: true });
});

test("demo at T = 256: report within budget, every chart bundle ≤ 1 MB, growth linear in T", async () => {
  const sizes = new Map<number, number>();
  for (const T of [128, 256]) {
    const sections = await probeSections(model, { prompt: ids(T), k: 5, targets: [] });
    const html = reportHtml({ title: "budget", sections });
    sizes.set(T, Buffer.byteLength(html));
    if (T !== 256) continue;
    assert.ok(html.length <= REPORT_BUDGET, `report ${html.length} bytes ≤ ${REPORT_BUDGET}`);
    assert.equal(html.split("window.vegaEmbed = ").length <= 2, true, "libraries inlined at most once");
    configureDisplay({ inlineLibraries: false });
    for (const section of sections) {
      for (const item of section.items) {
        if (!(item instanceof Chart)) continue;
        const bytes = JSON.stringify(chartBundle(item.spec, item.summary)).length;
        assert.ok(bytes <= CHART_BUDGET, `${item.summary}: ${bytes} bytes ≤ ${CHART_BUDGET}`);
      }
    }
  }
  // Without the fixed libraries, doubling T at most doubles the report (the attention cells alone would ×4).
  const lib = Buffer.byteLength(vegaLibrariesScript());
  const [small, large] = [sizes.get(128)! - lib, sizes.get(256)! - lib];
  assert.ok(large <= 2.2 * small, `T=128: ${small} bytes, T=256: ${large} bytes (ratio ${(large / small).toFixed(2)})`);
});

test("demo at T = 256: the notebook default attentionChart(att.patterns) is one small bundle", async () => {
  configureDisplay({ inlineLibraries: false });
  const att = await attentionPatterns(model, ids(256));
  const chart = attentionChart(att.patterns);
  const bundle = chartBundle(chart.spec, chart.summary);
  const bytes = JSON.stringify(bundle).length;
  assert.ok(bytes <= CHART_BUDGET, `${bytes} bytes ≤ ${CHART_BUDGET}`);
  assert.match(chart.summary, /last 128 of 256 positions/);
  const labels = [...String(bundle["text/html"]).matchAll(/<text[^>]*>(\d+): ([^<]+)<\/text>/g)].map((m) => [Number(m[1]), m[2]]);
  assert.ok(labels.length > 4, "axes labelled with positions and tokens by default");
  const tokens = model.toStrTokens(ids(256));
  for (const [position, text] of labels) assert.equal(text, String(tokens[position as number]).replace(/^ /, "·"), `label of position ${position}`);
});
