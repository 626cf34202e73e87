// Safe to share: a prompt full of markup and a tokenizer whose tokens are markup go through a notebook and the
// standalone report; in Chromium no injected script runs (a sentinel it would set stays unset, no dialog opens,
// no console error) and the text shows literally.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { OUTPUT, ROOT, chartOutputs, ensureBuilt, errorTextOf, executeNotebook, exportHtml, installKernelInTempPrefix, missingPrerequisite, readNotebook, type JupyterEnv } from "./harness";
import { chartStates, launchBrowser, waitForCharts, type Browser } from "./browser";

// Each payload would set window.__lmprobeInjected (or open a dialog) if it ever ran.
const PROMPT = `<script>alert(1)</script> </script><script>window.__lmprobeInjected=1</script> "q" 'q' {{7*7}} &amp; &lt;b&gt; The capital of France is`;
// Tokens renamed in the tokenizer: what the lens predicts on this prompt (" Paris", and " Rome" among the
// alternatives) becomes markup. Neither occurs in the prompt, whose tokenization therefore stays intact.
const HOSTILE_TOKENS: Record<string, string> = {
  "ĠParis": "Ġ<img/src=x/onerror=window.__lmprobeInjected=2>",
  "ĠRome": "</script><script>window.__lmprobeInjected=3</script>{{7*7}}",
};

function hostileModel(dir: string): string {
  const model = path.join(dir, "hostile-model");
  cpSync(path.join(ROOT, "models", "lmprobe-demo"), model, { recursive: true });
  const file = path.join(model, "tokenizer.json");
  const tokenizer = JSON.parse(readFileSync(file, "utf8"));
  const vocab = tokenizer.model.vocab as Record<string, number>;
  for (const [from, to] of Object.entries(HOSTILE_TOKENS)) {
    vocab[to] = vocab[from];
    delete vocab[from];
  }
  writeFileSync(file, JSON.stringify(tokenizer));
  return model;
}

const NOTEBOOK_CELLS = [
  `import { loadModel, logitLens, show, logitLensChart, tokenProbsChart, tokenProbabilities } from "lmprobe";
const model = await loadModel("./hostile-model");
const prompt = ${JSON.stringify(PROMPT)};
const lens = await logitLens(model, prompt, { k: 3, positions: "last" });
show(logitLensChart(lens.table));
show(lens.table);`,
  `const probs = await tokenProbabilities(model, prompt, { k: 3 });
show(tokenProbsChart(probs.alternatives));
console.log(model.toStrTokens(lens.tokens).slice(-3));`,
];

describe("escaping of prompt and tokenizer text in the browser", { skip: missingPrerequisite(), timeout: 600_000 }, () => {
  let jupyter: JupyterEnv;
  let browser: Browser;
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-injection-"));

  before(async () => {
    ensureBuilt();
    jupyter = installKernelInTempPrefix();
    browser = await launchBrowser();
    mkdirSync(OUTPUT, { recursive: true });
    hostileModel(dir);
  });
  after(async () => browser?.close());

  async function assertInert(file: string, expectLiteral: string[], screenshot: string) {
    const opened = await browser.open(file, { javaScript: true });
    await waitForCharts(opened.page);
    await opened.page.waitForTimeout(500);
    assert.equal(await opened.page.evaluate("typeof window.__lmprobeInjected"), "undefined", "no injected script ran");
    assert.deepEqual(opened.dialogs, [], "no dialog opened");
    assert.deepEqual(opened.consoleErrors.filter((e) => !/Failed to load resource/.test(e)), []);
    const states = await chartStates(opened.page);
    assert.ok(states.length > 0 && states.every((s) => s.drawn === "interactive"));
    const text = (await opened.page.evaluate("document.body.innerText")) as string;
    for (const literal of expectLiteral) assert.ok(text.includes(literal), `the page shows ${JSON.stringify(literal)} literally`);
    assert.ok(!/(^|[^*])49\b/.test(text.replace(/7\*7/g, "")) || text.includes("{{7*7}}"), "{{7*7}} was not evaluated");
    await opened.page.screenshot({ path: path.join(OUTPUT, screenshot), fullPage: true });
    await opened.close();
  }

  test("a notebook showing the hostile model's probes", async () => {
    writeFileSync(
      path.join(dir, "injection.ipynb"),
      JSON.stringify({
        cells: NOTEBOOK_CELLS.map((source) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source })),
        metadata: { kernelspec: { name: "lmprobe", display_name: "TypeScript (lmprobe)", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    const executed = executeNotebook(jupyter, path.join(dir, "injection.ipynb"), dir);
    const nb = readNotebook(executed);
    assert.equal(errorTextOf(nb), "");
    assert.ok(chartOutputs(nb).length >= 2);
    const stdout = nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.name === "stdout").map((o) => (Array.isArray(o.text) ? o.text.join("") : o.text)).join("");
    assert.match(stdout, /France/, "the prompt was tokenized and run");
    const html = exportHtml(jupyter, executed);
    // The lens' final prediction is the renamed " Paris": it must appear as text, in the charts and the table.
    await assertInert(html, ["<img/src=x/onerror=window.__lmprobeInjected=2>", "<script>alert(1)</script>", "{{7*7}}"], "injection-notebook.png");
  });

  test("the standalone report of the hostile model and prompt", async () => {
    const out = path.join(dir, "report.html");
    execFileSync(process.execPath, [path.join(ROOT, "bin", "lmprobe.js"), "probe", "--model", path.join(dir, "hostile-model"), "--prompt", PROMPT, "--out", out], { stdio: "pipe" });
    cpSync(out, path.join(OUTPUT, "injection-report.html"));
    await assertInert(out, [PROMPT.replace(/\s+/g, " "), "<img/src=x/onerror=window.__lmprobeInjected=2>"], "injection-report.png");
  });
});
