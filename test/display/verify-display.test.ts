// show(await verify(model, reference)) in a notebook: ONE display message holding the verify table as HTML (the
// CLI's columns, the generated-ids rows, PASS/FAIL) and as text; strings from the model or the file escaped.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { bundleOf, show } from "../../src/display";
import { formatVerifyTable, verify, verifyHtml, type VerifyResult } from "../../src/verify";
import type { LanguageModel } from "../../src/model/model";
import { loadFixture, referencePath, useBackend } from "../model/engine-helpers";
import { withFakeKernel } from "./fake-kernel";

let model: LanguageModel;
let result: VerifyResult;
before(async () => {
  await useBackend();
  model = loadFixture("gpt2");
  result = await verify(model, referencePath("gpt2"));
});
after(() => model?.dispose());

/** The text of each cell of each <tr>, entities decoded back (so the check reads what a browser would show). */
function tableCells(html: string): string[][] {
  const decode = (s: string) => s.replace(/<[^>]+>/g, "").replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
  return [...html.matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) => [...m[1].matchAll(/<t[hd][^>]*>(.*?)<\/t[hd]>/gs)].map((c) => decode(c[1])));
}

test("show(verify result) sends one message: an HTML table with the CLI's columns and rows, and the text table", () => {
  withFakeKernel((sent) => {
    show(result);
    assert.equal(sent.length, 1, "one display message");
    const data = sent[0].data;
    assert.deepEqual(Object.keys(data).sort(), ["text/html", "text/plain"]);
    assert.equal(data["text/plain"], formatVerifyTable(result));
    const rows = tableCells(String(data["text/html"]));
    assert.deepEqual(rows[0], ["tensor", "ok", "max |diff|", "worst ratio", "worst index"]);
    const names = Object.keys(result.tensors);
    assert.ok(names.length >= 5, `gpt2's reference compares several tensors (${names})`);
    assert.deepEqual(rows.slice(1, 1 + names.length).map((r) => r[0]), names);
    for (const [i, name] of names.entries()) {
      const t = result.tensors[name as keyof VerifyResult["tensors"]]!;
      const row = rows[1 + i];
      assert.equal(row[1], t.ok ? "ok" : "FAIL", name);
      assert.equal(Number(row[2]), Number(t.maxAbsDiff.toExponential(2)), `${name} max |diff|`);
      assert.equal(row[4], `worst at [${t.worstAt!.join(", ")}]`, `${name} worst index`);
    }
    const generated = rows.slice(1 + names.length).map((r) => r[0]);
    assert.deepEqual(generated, ["generated ids (with kv cache)", "generated ids (without kv cache)"]);
    assert.match(String(data["text/html"]), result.ok ? /class="verdict ok">PASS</ : /class="verdict fail">FAIL</);
  });
});

test("a failing result says FAIL, and model names, files and problems are escaped", () => {
  const hostile = '<script>alert(1)</script>{{x}}"';
  const edited = {
    ...result,
    ok: false,
    model: hostile,
    tensors: { ...result.tensors, logits: { ...result.tensors.logits!, ok: false, problem: "shape <b>[1]</b> vs reference" } },
  } as VerifyResult;
  const html = verifyHtml(edited);
  assert.ok(!html.includes("<script>alert"), "no live script");
  assert.ok(!html.includes("<b>[1]</b>"), "no live markup from a problem text");
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;&#123;&#123;x&#125;&#125;&quot;"));
  assert.match(html, /class="verdict fail">FAIL</);
  const logits = tableCells(html).find((r) => r[0] === "logits")!;
  assert.deepEqual([logits[1], logits[4]], ["FAIL", "shape <b>[1]</b> vs reference"]);
});

test("the display method does not show up as data: JSON and key listings are unchanged", () => {
  assert.equal(Object.keys(result).includes("toMimeBundle"), false);
  assert.equal(JSON.stringify(result).includes("toMimeBundle"), false);
  assert.equal(typeof result.toMimeBundle, "function");
});
