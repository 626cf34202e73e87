// End to end, as a person would see it: the kernel registered into a temporary Jupyter prefix, every example
// notebook executed by Debian's nbconvert from a fresh temporary directory with no node_modules, its charts
// checked for all four MIME types, the exported HTML opened in headless Chromium with JavaScript (every chart
// drawn interactively, no console errors) and without (every chart still shows its static SVG), screenshots kept
// under test-output/e2e.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  CHART_MIMES, OUTPUT, ROOT, chartOutputs, ensureBuilt, errorTextOf, executeNotebook, exportHtml,
  installKernelInTempPrefix, missingPrerequisite, readNotebook, type JupyterEnv,
} from "./harness";
import { chartStates, launchBrowser, waitForCharts, type Browser } from "./browser";

/** What each notebook must show: tokens expected in the drawn charts. */
const NOTEBOOKS: Record<string, { tokens: string[]; extra?: string[] }> = {
  quickstart: { tokens: ["Paris", "capital", "France"] },
  "logit-lens": { tokens: ["Paris"] },
  "attention-induction": { tokens: ["tiger", "cloud"] },
  "moe-routing": { tokens: ["Mary", "E0"], extra: ["tiny-mixtral"] },
  "activation-patching": { tokens: ["Japan", "France", "L0 H1"] },
  "mlxlmprobe-tour": { tokens: ["Paris", "Tokyo", "reasoning"], extra: ["tiny-mixtral"] },
  attribution: { tokens: ["France", "Japan", "integrated gradients"] },
};

const skip = missingPrerequisite();

describe("notebooks in Jupyter and Chromium", { skip, timeout: 900_000 }, () => {
  let jupyter: JupyterEnv;
  let browser: Browser;
  const workRoot = mkdtempSync(path.join(os.tmpdir(), "lmprobe-notebooks-"));

  before(async () => {
    ensureBuilt();
    jupyter = installKernelInTempPrefix();
    browser = await launchBrowser();
    mkdirSync(OUTPUT, { recursive: true });
  });
  after(async () => {
    await browser?.close();
  });

  test("every notebook in notebooks/ is covered here", () => {
    const found = readdirSync(path.join(ROOT, "notebooks")).filter((f) => f.endsWith(".ipynb")).map((f) => f.replace(/\.ipynb$/, ""));
    assert.deepEqual(found.sort(), Object.keys(NOTEBOOKS).sort());
  });

  for (const [name, expect] of Object.entries(NOTEBOOKS)) {
    test(`${name}: executes, shows four-MIME charts, draws with and without JavaScript`, async () => {
      // A fresh directory holding only the notebook (and the data it reads): no node_modules, no tsconfig.
      const dir = path.join(workRoot, name);
      mkdirSync(dir, { recursive: true });
      cpSync(path.join(ROOT, "notebooks", `${name}.ipynb`), path.join(dir, `${name}.ipynb`));
      for (const extra of expect.extra ?? []) cpSync(path.join(ROOT, "notebooks", extra), path.join(dir, extra), { recursive: true });
      assert.equal(existsSync(path.join(dir, "node_modules")), false);

      const executed = executeNotebook(jupyter, path.join(dir, `${name}.ipynb`), dir);
      const nb = readNotebook(executed);
      assert.equal(errorTextOf(nb), "", "no cell wrote an error or a type error");
      const charts = chartOutputs(nb);
      assert.ok(charts.length >= 1, "the notebook shows charts");
      for (const chart of charts) assert.deepEqual(Object.keys(chart.data!).sort(), [...CHART_MIMES].sort());
      cpSync(executed, path.join(OUTPUT, `${name}.executed.ipynb`));

      const html = exportHtml(jupyter, executed);
      cpSync(html, path.join(OUTPUT, `${name}.html`));

      const live = await browser.open(html, { javaScript: true });
      await waitForCharts(live.page);
      const states = await chartStates(live.page);
      assert.equal(states.length, charts.length, "each chart output appears once in the page");
      for (const s of states) {
        assert.equal(s.drawn, "interactive", `${s.id} drew interactively`);
        assert.ok(s.liveMarks >= 1, `${s.id} has marks`);
      }
      const allText = states.map((s) => s.text).join(" ");
      for (const token of expect.tokens) assert.ok(allText.includes(token), `"${token}" appears in a chart`);
      assert.deepEqual(live.consoleErrors.filter((e) => !/Failed to load resource/.test(e)), [], "no console errors");
      await live.page.screenshot({ path: path.join(OUTPUT, `${name}-js.png`), fullPage: true });
      await live.close();

      const still = await browser.open(html, { javaScript: false });
      const staticStates = await chartStates(still.page);
      assert.equal(staticStates.length, charts.length);
      for (const s of staticStates) {
        assert.ok(s.staticVisible, `${s.id} shows its static SVG without JavaScript`);
        assert.ok(s.staticMarks >= 1, `${s.id}'s static SVG has marks`);
      }
      await still.page.screenshot({ path: path.join(OUTPUT, `${name}-nojs.png`), fullPage: true });
      await still.close();
    });
  }

  test("a notebook in an empty directory imports lmprobe with types: a type error is reported, not run", () => {
    const dir = path.join(workRoot, "types");
    mkdirSync(dir, { recursive: true });
    const cells = [
      'import { escapeHtml, readableToken } from "lmprobe/internal";\nconsole.log(readableToken("ĠParis").length);',
      "const n: number = escapeHtml(1);",
    ];
    writeFileSync(
      path.join(dir, "types.ipynb"),
      JSON.stringify({
        cells: cells.map((source) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source })),
        metadata: { kernelspec: { name: "lmprobe", display_name: "TypeScript (lmprobe)", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    const nb = readNotebook(executeNotebook(jupyter, path.join(dir, "types.ipynb"), dir, { allowErrors: true }));
    const [first] = nb.cells.map((c) => (c.outputs ?? []).map((o) => [o.name, Array.isArray(o.text) ? o.text.join("") : o.text].join(":")).join("\n"));
    assert.equal(first, "stdout:6\n", "the import ran and printed");
    // The second cell fails the type check (escapeHtml returns a string): proof that the types were found.
    const [error] = nb.cells[1].outputs ?? [];
    assert.equal(error?.output_type, "error");
    assert.equal(error?.ename, "TSError");
    assert.match(error?.evalue ?? "", /^line 1:7 - Type 'string' is not assignable to type 'number'/);
  });
});
