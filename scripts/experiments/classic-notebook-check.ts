// A manual front-end check (not part of the test suite: Debian's classic Notebook server, python3-notebook, is
// not among the test dependencies). Starts Jupyter Notebook 6 with the lmprobe kernel in a temporary prefix,
// opens a notebook in headless Chromium, runs a chart cell, a failing cell and a cell after it, and prints what
// the page shows as JSON: whether the chart drew, the error's text as displayed, and the later cell's output.
//
//   apt-get install --no-install-recommends python3-notebook
//   npm run build && node --import tsx scripts/experiments/classic-notebook-check.ts
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, installKernelInTempPrefix } from "../../test/e2e/harness";

const cells = [
  'import { loadModel, logitLens, logitLensChart, show } from "lmprobe";\nconst model = await loadModel();\nconst lens = await logitLens(model, "The capital of France is", { k: 5 });\nshow(logitLensChart(lens.table));',
  'const scale = 2;\nthrow new RangeError("shown in the page?");',
  'console.log("after the error", scale === undefined);',
];

async function main(): Promise<void> {
  const jupyter = installKernelInTempPrefix();
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-classic-"));
  writeFileSync(
    path.join(dir, "check.ipynb"),
    JSON.stringify({
      cells: cells.map((source) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source })),
      metadata: { kernelspec: { name: "lmprobe", display_name: "TypeScript (lmprobe)", language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    }),
  );
  const port = 18000 + Math.floor(Math.random() * 1000);
  const server = spawn("/usr/bin/python3", ["-m", "notebook", "--no-browser", `--port=${port}`, "--NotebookApp.token=", "--NotebookApp.password=", "--allow-root", `--notebook-dir=${dir}`], {
    env: jupyter.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  server.stderr.on("data", (d) => (log += d));
  server.stdout.on("data", (d) => (log += d));
  try {
    for (let i = 0; i < 60 && !log.includes(`:${port}/`); i++) await new Promise((r) => setTimeout(r, 500));
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/notebooks/check.ipynb`, { waitUntil: "load" });
    await page.waitForFunction(() => (window as any).Jupyter?.notebook?.kernel?.is_connected?.(), undefined, { timeout: 60_000 });
    const runCell = async (i: number) => {
      await page.evaluate((n) => (window as any).Jupyter.notebook.get_cell(n).execute(), i);
      await page.waitForFunction((n) => (window as any).Jupyter.notebook.get_cell(n).input_prompt_number !== "*" && (window as any).Jupyter.notebook.get_cell(n).input_prompt_number != null, i, { timeout: 120_000 });
    };
    for (let i = 0; i < cells.length; i++) await runCell(i);
    await page.waitForTimeout(3000);
    const shown = await page.evaluate(() => {
      const cellsEl = Array.from(document.querySelectorAll(".cell.code_cell"));
      return cellsEl.map((c) => ({
        prompt: c.querySelector(".input_prompt")?.textContent?.trim(),
        errorText: c.querySelector(".output_error")?.textContent ?? null,
        text: c.querySelector(".output_stdout")?.textContent ?? null,
        chartMarks: c.querySelectorAll(".output_area svg path, .output_area svg rect, .output_area canvas").length,
        vegaEmbed: !!c.querySelector(".vega-embed"),
      }));
    });
    await page.screenshot({ path: path.join(dir, "classic.png"), fullPage: true });
    console.log(JSON.stringify({ screenshot: path.join(dir, "classic.png"), pageErrors: errors, cells: shown }, null, 2));
    await browser.close();
  } finally {
    server.kill("SIGTERM");
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
