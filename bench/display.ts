// Benchmark of the display at real sizes: for each case (model and prompt length) the report's bytes, the time to
// build and write it after the probe, the process's peak RSS, the largest single notebook chart (its whole display
// bundle, libraries not inlined) and Chromium's load time of the report (performance.timing, headless, JavaScript
// on: until every chart is interactive too; and off). The baseline is the code before this change (commit
// BASELINE_COMMIT, the old report path), measured in the same run on the cases named by --baseline.
//
//   node --import tsx bench/display.ts [--cases demo:5,demo:128,demo:256,gpt2-small:128,gpt2-small:512]
//                                      [--baseline demo:5,demo:40] [--no-chromium] [--backend wasm]
// Each case runs in a child process, so peak RSS is that case's alone. Prints one JSON document.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

const ROOT = path.resolve(__dirname, "..");
const BASELINE_COMMIT = "f2b0ae8";
const OUT = path.join(ROOT, "bench", "out", "display");
const args = Object.fromEntries(process.argv.slice(2).reduce<string[][]>((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1] ?? ""]] : pairs), []));
const backend = args.backend || process.env.LMPROBE_BACKEND || "wasm";

interface CaseResult {
  case: string;
  code: "current" | "baseline";
  model: string;
  positions: number;
  probeMs: number;
  writeMs: number;
  /** CPU time of building and writing the report, every thread of the process (the SVG worker included). */
  writeCpuMs: number;
  reportBytes: number;
  peakRssMiB: number;
  largestChart?: { bytes: number; summary: string };
  notebookAttentionChartBytes?: number;
  file: string;
  chromium?: { loadMs: number; interactiveMs: number; loadNoJsMs: number; charts: number; drawn: Record<string, number> };
}

async function child(spec: string, code: "current" | "baseline"): Promise<void> {
  const [modelName, tText] = spec.split(":");
  const T = Number(tText);
  const src = code === "baseline" ? path.join(ROOT, ".scratch", "bench-baseline", "src") : path.join(ROOT, "src");
  const { loadModel } = require(path.join(src, "load"));
  const { probeSections } = require(path.join(src, "cli", "probe-sections"));
  const { reportHtml } = require(path.join(src, "display", "report"));
  let model;
  if (modelName === "demo") model = await loadModel("demo", { backend });
  else {
    const { setBackend } = require(path.join(src, "backend"));
    await setBackend(backend);
    const { buildModel } = require(path.join(src, "model", "build"));
    const { normalizeConfig } = require(path.join(src, "io", "config"));
    const { GPT2_SMALL_CONFIG, randomGpt2Weights, idTokenizer } = await import(path.join(ROOT, "bench", "probe-gpt2-small.mjs"));
    model = buildModel({ dir: "gpt2-small (random)", config: normalizeConfig(GPT2_SMALL_CONFIG, "gpt2-small/config.json"), weights: randomGpt2Weights(), tokenizer: idTokenizer }, "gpt2-small-random");
  }
  // The demo reads words: a long prompt of its own sentences; GPT-2's random model reads ids.
  const ids: number[] =
    modelName === "demo"
      ? (model.toTokens("The capital of France is Paris. The capital of Italy is Rome. When Mary and John went to the store, John gave a drink to Mary. ".repeat(40), { prependBos: false }) as number[]).slice(0, T)
      : Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (model.config.vocabSize - 1)));
  let t0 = performance.now();
  const sections = await probeSections(model, { prompt: ids, k: 5, targets: [] });
  const probeMs = performance.now() - t0;
  t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const html: string = reportHtml({ title: `lmprobe report: ${spec}`, facts: [["model", modelName], ["tokens", String(T)]], sections });
  const file = path.join(OUT, `${code}-${modelName}-${T}.html`);
  writeFileSync(file, html);
  const writeMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const writeCpuMs = Math.round((cpu.user + cpu.system) / 1000);
  const result: CaseResult = { case: spec, code, model: modelName, positions: T, probeMs: Math.round(probeMs), writeMs: Math.round(writeMs), writeCpuMs, reportBytes: statSync(file).size, peakRssMiB: 0, file: path.relative(ROOT, file) };
  if (code === "current") {
    // The largest chart a notebook would receive: each chart's whole display bundle, libraries not inlined.
    const { configureDisplay, chartBundle } = require(path.join(src, "display", "bundle"));
    const { Chart } = require(path.join(src, "display", "chart"));
    configureDisplay({ inlineLibraries: false });
    let largest = { bytes: 0, summary: "" };
    // Charts of the report are built for the page; a notebook gets the same charts as bundles.
    for (const section of sections) {
      for (const item of section.items) {
        if (!(item instanceof Chart)) continue;
        const bytes = JSON.stringify(chartBundle(item.spec, item.summary)).length;
        if (bytes > largest.bytes) largest = { bytes, summary: item.summary };
      }
    }
    result.largestChart = largest;
    if (modelName === "demo") {
      // The notebook default: attentionChart(att.patterns) of the whole long pattern table.
      const { attentionPatterns } = require(path.join(src, "probe", "attention"));
      const { attentionChart } = require(path.join(src, "display", "charts"));
      const att = await attentionPatterns(model, ids);
      const chart = attentionChart(att.patterns);
      result.notebookAttentionChartBytes = JSON.stringify(chartBundle(chart.spec, chart.summary)).length;
    }
  }
  model.dispose();
  result.peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`\n@@RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

async function chromiumTimes(file: string): Promise<CaseResult["chromium"]> {
  const { chromium } = require("playwright-core");
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const open = async (javaScript: boolean) => {
      const context = await browser.newContext({ javaScriptEnabled: javaScript, viewport: { width: 1200, height: 900 }, offline: true });
      const page = await context.newPage();
      const t0 = performance.now();
      await page.goto(`file://${file}`, { waitUntil: "load", timeout: 300_000 });
      const timing = (await page.evaluate("JSON.stringify(performance.timing)")) as string;
      const { navigationStart, loadEventEnd } = JSON.parse(timing);
      let interactiveMs = NaN;
      let drawn: Record<string, number> = {};
      if (javaScript) {
        await page.waitForFunction(`[...document.querySelectorAll(".lmprobe-chart")].every(h => ["interactive","static"].includes(h.getAttribute("data-lmprobe-drawn")))`, undefined, { timeout: 300_000 });
        interactiveMs = performance.now() - t0;
        drawn = JSON.parse((await page.evaluate(`JSON.stringify([...document.querySelectorAll(".lmprobe-chart")].map(h => h.getAttribute("data-lmprobe-drawn")))`)) as string).reduce((a: Record<string, number>, s: string) => ({ ...a, [s]: (a[s] ?? 0) + 1 }), {});
      }
      const charts = (await page.evaluate(`document.querySelectorAll(".lmprobe-chart").length`)) as number;
      await context.close();
      return { loadMs: loadEventEnd - navigationStart, interactiveMs, charts, drawn };
    };
    const on = await open(true);
    const off = await open(false);
    return { loadMs: on.loadMs, interactiveMs: Math.round(on.interactiveMs), loadNoJsMs: off.loadMs, charts: on.charts, drawn: on.drawn };
  } finally {
    await browser.close();
  }
}

function runChild(spec: string, code: "current" | "baseline"): CaseResult | { case: string; code: string; error: string } {
  const run = spawnSync(process.execPath, ["--import", "tsx", "--max-old-space-size=8192", __filename, "--child", spec, "--code", code, "--backend", backend], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const line = run.stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  if (!line) return { case: spec, code, error: (run.stderr || run.stdout).slice(-1500) };
  return JSON.parse(line.slice("@@RESULT ".length));
}

function prepareBaseline(): string | null {
  const dir = path.join(ROOT, ".scratch", "bench-baseline");
  try {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync("git", ["archive", BASELINE_COMMIT, "src"], { cwd: ROOT, maxBuffer: 256 * 1024 * 1024 });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
    return null;
  } catch (e) {
    return `baseline commit ${BASELINE_COMMIT} not available (${(e as Error).message.split("\n")[0]}): a shallow clone? fetch it to measure the baseline`;
  }
}

async function main(): Promise<void> {
  if (args.child) return child(args.child, args.code as "current" | "baseline");
  mkdirSync(OUT, { recursive: true });
  const cases = (args.cases || "demo:5,demo:128,demo:256,gpt2-small:128,gpt2-small:512").split(",");
  const baselineCases = args.baseline === "none" ? [] : (args.baseline || "demo:5,demo:40").split(",");
  const withChromium = !("no-chromium" in args) && existsSync("/usr/bin/chromium");
  const results: Array<CaseResult | { case: string; code: string; error: string }> = [];
  const baselineProblem = baselineCases.length ? prepareBaseline() : null;
  for (const spec of cases) results.push(runChild(spec, "current"));
  if (!baselineProblem) for (const spec of baselineCases) results.push(runChild(spec, "baseline"));
  if (withChromium) {
    for (const r of results) if ("file" in r) r.chromium = await chromiumTimes(path.join(ROOT, r.file));
  }
  const ok = results.filter((r): r is CaseResult => "file" in r);
  const ratios = ok
    .filter((r) => r.code === "baseline")
    .flatMap((b) => {
      const c = ok.find((r) => r.code === "current" && r.case === b.case);
      if (!c) return [];
      return [{
        case: b.case,
        reportBytes: { baseline: b.reportBytes, current: c.reportBytes, ratio: +(b.reportBytes / c.reportBytes).toFixed(1) },
        writeMs: { baseline: b.writeMs, current: c.writeMs, ratio: +(b.writeMs / c.writeMs).toFixed(1) },
        writeCpuMs: { baseline: b.writeCpuMs, current: c.writeCpuMs, ratio: +(b.writeCpuMs / c.writeCpuMs).toFixed(1) },
        peakRssMiB: { baseline: b.peakRssMiB, current: c.peakRssMiB },
        ...(b.chromium && c.chromium ? { chromiumInteractiveMs: { baseline: b.chromium.interactiveMs, current: c.chromium.interactiveMs, ratio: +(b.chromium.interactiveMs / c.chromium.interactiveMs).toFixed(1) } } : {}),
      }];
    });
  const gpt512 = ok.find((r) => r.code === "current" && r.case === "gpt2-small:512");
  const budgets = {
    gpt2Small512ReportBytes: gpt512 ? { value: gpt512.reportBytes, budget: 10e6, met: gpt512.reportBytes <= 10e6 } : "not run",
    gpt2Small512WriteMs: gpt512 ? { value: gpt512.writeMs, cpuMs: gpt512.writeCpuMs, budget: 10_000, met: gpt512.writeMs <= 10_000 } : "not run",
    largestNotebookChartBytes: (() => {
      const sizes = ok.filter((r) => r.code === "current").flatMap((r) => [r.largestChart?.bytes ?? 0, r.notebookAttentionChartBytes ?? 0]);
      const value = Math.max(0, ...sizes);
      return { value, budget: 1e6, met: value <= 1e6 };
    })(),
  };
  console.log(JSON.stringify({ backend, baselineCommit: BASELINE_COMMIT, ...(baselineProblem ? { baselineProblem } : {}), results, ratios, budgets }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
