// The example notebooks, without Jupyter: stored with outputs stripped for the lmprobe kernel, and every claim they
// assert holds (their code cells run under tsx against the sources; a failing assert fails the test). The e2e
// suite runs them again in Jupyter and Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { NOTEBOOKS_DIR, codeCells, notebookScript, readNotebookJson } from "./notebook-script";

const ROOT = path.resolve(__dirname, "..", "..");
const SCRIPTS = path.join(ROOT, "test-output", "notebook-scripts");
const notebooks = readdirSync(NOTEBOOKS_DIR).filter((f) => f.endsWith(".ipynb"));

test("the notebooks are stored stripped, for the lmprobe kernel", () => {
  assert.ok(notebooks.length >= 4);
  for (const file of notebooks) {
    const nb = readNotebookJson(path.join(NOTEBOOKS_DIR, file));
    assert.equal(nb.metadata.kernelspec?.name, "lmprobe", `${file} uses the lmprobe kernel`);
    for (const cell of nb.cells.filter((c) => c.cell_type === "code")) {
      assert.deepEqual(cell.outputs, [], `${file}: outputs stripped`);
      assert.equal(cell.execution_count, null, `${file}: execution counts stripped`);
    }
    assert.ok(codeCells(nb).some((c) => c.includes("assert.")), `${file} asserts its claims`);
  }
});

for (const file of notebooks) {
  test(`${file}: its claims hold`, { timeout: 120_000 }, () => {
    mkdirSync(SCRIPTS, { recursive: true });
    const script = path.join(SCRIPTS, file.replace(/\.ipynb$/, ".ts"));
    writeFileSync(script, notebookScript(readNotebookJson(path.join(NOTEBOOKS_DIR, file)), path.join(ROOT, "src", "index.ts")));
    const run = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: NOTEBOOKS_DIR, encoding: "utf8", timeout: 110_000 });
    assert.equal(run.status, 0, `${file} failed:\n${run.stderr.slice(-3000)}`);
  });
}

for (const file of notebooks) {
  test(`executed/${file}: committed, current, every chart as static SVG with no scripts or libraries needed`, () => {
    const executed = path.join(NOTEBOOKS_DIR, "executed", file);
    assert.ok(existsSync(executed), `notebooks/executed/${file} exists (node --import tsx scripts/execute-notebooks.ts writes it)`);
    const nb = readNotebookJson(executed);
    const outputs = nb.cells.flatMap((c) => (c.outputs ?? []) as Array<{ output_type: string; name?: string; data?: Record<string, unknown> }>);
    assert.deepEqual(outputs.filter((o) => o.output_type === "error" || o.name === "stderr"), [], "no cell failed");
    const charts = outputs.filter((o) => o.data && "application/vnd.vegalite.v5+json" in o.data);
    assert.ok(charts.length >= 2, `${file} keeps its charts`);
    for (const chart of charts) {
      assert.match(String(chart.data!["image/svg+xml"]), /^<svg[\s\S]*<\/svg>$/);
      const html = Array.isArray(chart.data!["text/html"]) ? (chart.data!["text/html"] as string[]).join("") : String(chart.data!["text/html"]);
      assert.match(html, /<div class="lmprobe-static"><svg[\s\S]*?<\/svg><\/div>/, "the HTML carries the SVG itself");
      assert.doesNotMatch(html, /window\.vegaEmbed\s*=|vega-embed\.min\.js/, "no inlined libraries: the file stays small");
    }
    // 400 KB for up to five charts, 100 KB for each chart beyond (a small chart's SVG rides in image/svg+xml and
    // again in text/html).
    const budget = 400_000 + 100_000 * Math.max(0, charts.length - 5);
    assert.ok(JSON.stringify(nb).length < budget, `${file} stays under ${budget / 1000} KB`);
    // Provenance travels with the outputs: the charts and tables say which weights, version and backend made them.
    const plain = outputs.map((o) => (Array.isArray(o.data?.["text/plain"]) ? (o.data!["text/plain"] as string[]).join("") : String(o.data?.["text/plain"] ?? "")));
    assert.ok(plain.some((t) => /Made with lmprobe \d+\.\d+\.\d+ · .* · weights [0-9a-f]{12}/.test(t)), `${file}: its outputs carry their provenance`);
    // Each code cell shows the count the kernel gave it (In [1], In [2], …), not In [ ].
    const counts = nb.cells.filter((c) => c.cell_type === "code").map((c) => c.execution_count);
    assert.deepEqual(counts, counts.map((_, i) => i + 1), "execution counts 1…n");
    // Same code as the stripped notebook: the executed copy is not stale.
    assert.deepEqual(codeCells(nb), codeCells(readNotebookJson(path.join(NOTEBOOKS_DIR, file))));
  });
}
