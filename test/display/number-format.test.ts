// Tables print every number the same way (four significant digits): a column whose name contains "token" but
// holds numbers (the attention summary's first_token, the head scores' previous_token) is not a token column.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import { tableHtml, tableText } from "../../src/display";
import { attentionPatterns } from "../../src/probe/attention";
import { model } from "../probe/models";

test("the attention summary's first_token prints like its neighbours, in HTML and in text", async () => {
  const m = await model("demo");
  const { summary } = await attentionPatterns(m, "The capital of France is", { layers: [0] });
  const first = summary.objects()[0] as Record<string, number>;
  assert.ok(!Number.isInteger(first.first_token) && !Number.isInteger(first.entropy), "the values have more digits than shown");
  const html = tableHtml(summary);
  const cells = [...html.matchAll(/<tr><td[^>]*>([^<]*)<\/td><td[^>]*>([^<]*)<\/td><td[^>]*>([^<]*)<\/td><td[^>]*>([^<]*)<\/td>/g)][0];
  assert.equal(cells[3], first.entropy.toPrecision(4));
  assert.equal(cells[4], first.first_token.toPrecision(4), "first_token has four significant digits, not a quoted full-precision token");
  assert.doesNotMatch(html, /class="tok"/, "no column of the summary is a token column");
  const [header, row] = tableText(summary).split("\n");
  assert.match(header, /first_token/);
  assert.ok(row.includes(first.first_token.toPrecision(4)) && !row.includes(String(first.first_token)), row);
});

test("a token column of strings is still shown as readable tokens", () => {
  const table = aq.from([{ position: 0, token: "ĠParis", first_token: 0.123456789 }]);
  assert.match(tableHtml(table), /<td class="tok"> Paris<\/td><td>0\.1235<\/td>/);
  assert.match(tableText(table), /" Paris"\s+0\.1235/);
});
