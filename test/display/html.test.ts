import { test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import { logitLensChart, tableHtml, tableText } from "../../src/display";
import { chartHtml } from "../../src/display/chart-html";

const HOSTILE = `</script><script>alert(1)</script><!-- {{7*7}} "q" &amp;`;

/** The script elements of an HTML fragment (opening tags), which must be exactly the ones lmprobe wrote. */
const scriptTags = (html: string) => html.match(/<script\b[^>]*>/gi) ?? [];

test("a chart's HTML holds its SVG, inert JSON and one embed script, whatever the tokens hold", () => {
  const table = aq.from([{ layer: 0, position: 0, token: HOSTILE, rank: 1, prob: 0.9 }]);
  const chart = logitLensChart(table, { inputTokens: [HOSTILE], title: HOSTILE });
  const html = chartHtml("abc123", chart.spec, chart.toSvg(), { includeLibraries: false });
  assert.deepEqual(scriptTags(html), ['<script type="application/json" id="lmprobe-spec-abc123">', "<script>"]);
  assert.doesNotMatch(html, /<!--/);
  assert.doesNotMatch(html, /\{\{/);
  // The spec round-trips from the JSON element with the hostile text intact.
  const json = /<script type="application\/json" id="lmprobe-spec-abc123">(.*?)<\/script>/s.exec(html)![1];
  const spec = JSON.parse(json);
  assert.equal(spec.title, HOSTILE);
  assert.equal(spec.$schema, undefined, "the embedded copy drops $schema (no version warning)");
});

test("with the libraries, the fragment hides AMD define and CommonJS while they load and drains the queue", () => {
  const chart = logitLensChart(aq.from([{ layer: 0, position: 0, token: "a", rank: 1, prob: 0.5 }]));
  const html = chartHtml("abc", chart.spec, chart.toSvg(), { includeLibraries: true });
  assert.equal(scriptTags(html).length, 3);
  assert.match(html, /\(function \(define, module, exports\) \{/);
  assert.match(html, /__lmprobeQueue/);
  assert.doesNotMatch(html, /cdn\.jsdelivr|unpkg\.com|<script[^>]+src=/);
});

test("tables: tokens readable and escaped, probabilities shaded in proportion, long tables cut", () => {
  const rows = Array.from({ length: 60 }, (_, i) => ({ token: i === 0 ? `Ġ${HOSTILE}` : `t${i}`, token_id: i, prob: i === 0 ? 1 : 0.25, logprob: Math.log(0.25) }));
  const html = tableHtml(aq.from(rows), { maxRows: 10 });
  assert.deepEqual(scriptTags(html), []);
  assert.match(html, /<td class="tok"> &lt;\/script&gt;/, "Ġ shown as a space, markup as text");
  assert.match(html, /rgba\(8,81,156,1\.000\);color:#fff;/);
  assert.match(html, /rgba\(8,81,156,0\.250\)/);
  assert.doesNotMatch(html.split("logprob")[1], /rgba\(8,81,156,-/, "log-probabilities are not shaded");
  assert.match(html, /… 50 more rows/);
  assert.equal((html.match(/<tr>/g) ?? []).length, 11);
  const text = tableText(aq.from(rows.slice(1, 3)));
  assert.match(text, /"t1"\s+1\s+0\.2500/);
});
