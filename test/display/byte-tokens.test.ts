// Tokens that hold part of a character read as their bytes ("<0xE2>"), never as "\uFFFD", and charts join
// neighbouring byte tokens back into the character they spell; non-Latin text reaches the SVG as text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { joinByteTokens, logitLensChart } from "../../src/display";
import { loadModel } from "../../src/load";
import { tokenBytes, byteNotation } from "../../src/io/token-bytes";
import { lensTable } from "./sample-tables";

const svgTexts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test("byte tokens: byte-fallback and byte-level forms give their bytes", () => {
  assert.deepEqual(tokenBytes("<0xE2>"), [0xe2]);
  assert.deepEqual(tokenBytes("â"), [0xe2], "GPT-2's byte alphabet writes 0xE2 as itself");
  assert.deepEqual(tokenBytes("Ġ"), [0x20], "and the space as Ġ (U+0120)");
  assert.deepEqual(tokenBytes("Ĥ"), [0x82]);
  assert.equal(tokenBytes("東"), null, "not a byte alphabet character");
  assert.equal(byteNotation([0xe2, 0x82]), "<0xE2><0x82>");
});

test("joinByteTokens: the token completing a character shows it, the ones before keep their bytes", () => {
  assert.deepEqual(joinByteTokens([" the", "<0xE2>", "<0x82>", "<0xAC>", "!"]), [" the", "<0xE2>", "<0x82>", "€", "!"]);
  assert.deepEqual(joinByteTokens(["<0xE6><0x9D>", "<0xB1>", "<0xE4>"]), ["<0xE6><0x9D>", "東", "<0xE4>"], "an unfinished character keeps its bytes");
  assert.deepEqual(joinByteTokens(["<0xE2>", " x", "<0x82>"]), ["<0xE2>", " x", "<0x82>"], "a run ends at a text token");
});

test("the demo's byte-level tokenizer: a CJK and euro prompt reads without \\uFFFD, and a chart labels the characters", async () => {
  const model = await loadModel("demo", { backend: "cpu" });
  try {
    const ids = model.toTokens("東京 €", { prependBos: false }) as number[];
    const texts = model.toStrTokens(ids);
    assert.ok(texts.every((t) => !t.includes("\uFFFD")), `no replacement character: ${JSON.stringify(texts)}`);
    assert.ok(texts.some((t) => /^(<0x[0-9A-F]{2}>)+$/.test(t)), "byte tokens read as <0xHH>");
    const joined = joinByteTokens(texts);
    assert.equal(joined.filter((t) => !/^(<0x[0-9A-F]{2}>)+$/.test(t)).join(""), "東京 €", "the completing tokens spell the prompt");
    // Lens table positions 0…4 relabelled with the first five tokens of this prompt.
    const chart = logitLensChart(lensTable(), { inputTokens: joined.length >= 5 ? joined.slice(0, 5) : [...joined, "a", "b", "c", "d", "e"].slice(0, 5) });
    const labels = svgTexts(chart.toSvg());
    assert.ok(labels.some((l) => /東|京/.test(l)), `CJK text in the SVG: ${labels.filter((l) => /^\d+:/.test(l)).join(" | ")}`);
    assert.ok(labels.every((l) => !l.includes("\uFFFD")));
  } finally {
    model.dispose();
  }
});
