import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeHtml, jsonForScript, labelToken, readableToken, sanitizeSvgForHtml, uniquifySvgIds } from "../../src/display/escape";

const HOSTILE = `<script>alert(1)</script></script><!-- "quotes" 'single' {{ 7*7 }} &amp; &lt; \u2028`;

test("escapeHtml leaves no markup, template braces or raw quotes", () => {
  const out = escapeHtml(HOSTILE);
  assert.doesNotMatch(out, /[<>"'{}]/);
  // Entities in the input stay visible as text: "&amp;" must come out as "&amp;amp;".
  assert.match(out, /&amp;amp;/);
});

test("jsonForScript cannot end or comment out its script element and parses back to the same value", () => {
  const value = { token: HOSTILE, nested: [HOSTILE, "</SCRIPT >", "<!--"] };
  const json = jsonForScript(value);
  assert.doesNotMatch(json, /<\/script|<!--|[<>&\u2028]/i);
  assert.ok(!json.includes("{{"), "no template braces left in strings");
  assert.deepEqual(JSON.parse(json), value);
  // It is also a JavaScript expression evaluating to the same value.
  assert.deepEqual(new Function(`return ${json};`)(), value);
});

test("sanitizeSvgForHtml drops the XML prolog and turns braces into entities", () => {
  const out = sanitizeSvgForHtml('<?xml version="1.0"?>\n<svg><text>{{x}}</text></svg>');
  assert.equal(out, "<svg><text>&#123;&#123;x&#125;&#125;</text></svg>");
});

test("readableToken decodes byte-level BPE markers and shows invisible characters", () => {
  assert.equal(readableToken("ĠParis"), " Paris");
  assert.equal(readableToken("▁Paris"), " Paris");
  assert.equal(readableToken("Ċ"), "↵");
  assert.equal(readableToken("a\tb"), "a→b");
  assert.equal(readableToken("\u0001"), "\\u0001");
  assert.equal(labelToken(" Paris"), "·Paris");
  assert.equal(labelToken(""), "∅");
});

test("uniquifySvgIds renames definitions and their references only", () => {
  const svg = '<svg><defs><linearGradient id="gradient_0"/></defs><path fill="url(#gradient_0)"/><use href="#gradient_0"/><path fill="url(#elsewhere)"/></svg>';
  assert.equal(
    uniquifySvgIds(svg, "c1-"),
    '<svg><defs><linearGradient id="c1-gradient_0"/></defs><path fill="url(#c1-gradient_0)"/><use href="#c1-gradient_0"/><path fill="url(#elsewhere)"/></svg>',
  );
});
