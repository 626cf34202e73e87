// lmprobe probe's run-overview sections, the whole run as JSON rendered again by lmprobe report, and the PDF.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { main } from "../../src/cli/main";
import { loadRun, runTables } from "../../src/display/run-file";
import { MissingFileError } from "../../src/errors";
import { printPdf } from "../../src/cli/pdf";

const SECTIONS = ["Run overview", "Logit lens", "Layer activations", "Embeddings", "Logits", "Attention by distance", "Generation replay", "Two prompts compared"];

async function quietly<T>(f: () => Promise<T>): Promise<T> {
  const log = console.log;
  const write = process.stderr.write.bind(process.stderr);
  console.log = () => {};
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await f();
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
}

test("probe writes the overview sections, the provenance and the run file; report renders the run again", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-run-"));
  const [html, json, again] = ["report.html", "run.json", "again.html"].map((f) => path.join(dir, f));
  const args = ["probe", "--prompt", "The capital of France is", "--compare", "The capital of Japan is", "--generate", "3", "--json", json, "--out", html, "--static"];
  assert.equal(await quietly(() => main(args)), 0);
  const page = readFileSync(html, "utf8");
  for (const title of SECTIONS) assert.ok(page.includes(`<h2>${title}</h2>`), `the report has "${title}"`);
  assert.match(page, /class="lmprobe-provenance"/, "the report says what made it");
  assert.ok((page.match(/class="lmprobe-explainer"/g) ?? []).length >= 10, "charts carry their explainers");

  const run = loadRun(json);
  assert.equal(run.prompt, "The capital of France is");
  assert.equal(run.config?.model_type, "llama");
  assert.equal(run.provenance?.model.kind, "demo");
  assert.match(run.generated ?? "", /Paris/);
  const tables = runTables(run);
  assert.ok(tables["Run overview"].some((t) => t.columnNames().includes("prefill_flops")), "tables come back as tables");
  assert.ok(tables["Logits"][0].numRows() === 1);

  assert.equal(await quietly(() => main(["report", json, "--out", again, "--static"])), 0);
  const rerendered = readFileSync(again, "utf8");
  for (const title of SECTIONS) assert.ok(rerendered.includes(`<h2>${title}</h2>`), `re-rendered "${title}"`);
  assert.equal((rerendered.match(/<svg/g) ?? []).length, (page.match(/<svg/g) ?? []).length, "every chart drawn again");
});

test("the PDF is printed by Chromium, or a missing Chromium is named with its Debian package", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-pdf-"));
  const html = path.join(dir, "r.html");
  require("node:fs").writeFileSync(html, "<!DOCTYPE html><html><body><h1>lmprobe</h1></body></html>");
  const saved = process.env.LMPROBE_CHROMIUM;
  process.env.LMPROBE_CHROMIUM = path.join(dir, "no-such-chromium");
  try {
    assert.throws(() => printPdf(html, path.join(dir, "r.pdf")), (err: unknown) => err instanceof MissingFileError && /apt-get install chromium/.test((err as Error).message));
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_CHROMIUM;
    else process.env.LMPROBE_CHROMIUM = saved;
  }
  if (!existsSync("/usr/bin/chromium")) return; // the tests install it (scripts/system-deps.sh); without it only the refusal is checked
  printPdf(html, path.join(dir, "r.pdf"));
  assert.equal(readFileSync(path.join(dir, "r.pdf")).subarray(0, 5).toString("latin1"), "%PDF-");
});
