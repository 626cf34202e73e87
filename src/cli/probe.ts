// `lmprobe probe --model <dir|id|demo> --prompt "..." --out report.html`: probes a model on a prompt and writes
// one offline HTML file holding every analysis.
import { accessSync, constants, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ArgumentError } from "../errors";
import { loadModel } from "../load";
import { reportHtml, type ReportOptions } from "../display/report";
import { progress } from "../display/progress";
import { provenance } from "../model/provenance";
import { runFileOf } from "../display/run-file";
import { overviewSections, overviewStages } from "./overview-sections";
import { printPdf } from "./pdf";
import { probeSections, probeStages } from "./probe-sections";

const USAGE = `usage: lmprobe probe --prompt TEXT [--model <dir|hub id|demo>] [--out report.html] [--top-k N] [--target TOKEN]... [--backend NAME] [--static]
                     [--compare TEXT] [--generate N] [--attribution-steps N] [--json run.json] [--pdf report.pdf]

  --model     a checkpoint directory, a Hugging Face hub id, or "demo" (default: the built-in demo model)
  --prompt    the text to probe
  --out       the HTML file to write (default lmprobe-report.html)
  --top-k     candidates kept per layer and position (default 5)
  --target    a token whose probability to follow through the layers (repeatable), e.g. --target " Paris"
  --backend   tfjs backend: cpu-native, wasm, cpu, webgpu, tensorflow (default: the best available)
  --static    leave the Vega libraries out: smaller file, charts as static SVG only
  --compare   a second prompt: adds the comparison of the two runs' residual streams
  --generate  tokens to generate for the replay section (default 8; 0 leaves it out)
  --attribution-steps
              integrated gradients' steps in the token attribution (each a forward and backward pass over the
              prompt); default 64 where that work fits the report's budget, else 0 (saliency and input × gradient)
  --json      also write the whole run (every table, chart spec, config, prompt, provenance) to this file;
              \`lmprobe report run.json --out report.html\` renders it again
  --pdf       also print the report to this PDF with headless Chromium (Debian: chromium)`;

export interface ProbeArgs {
  model: string;
  prompt: string;
  out: string;
  k: number;
  targets: string[];
  backend?: string;
  interactive: boolean;
  compare?: string;
  generate: number;
  /** Integrated gradients' steps, or undefined for the report's budget (attribution-section.ts). */
  attributionSteps?: number;
  json?: string;
  pdf?: string;
}

export function parseProbeArgs(args: string[]): ProbeArgs | "help" {
  const parsed: Partial<ProbeArgs> & { targets: string[] } = { targets: [], interactive: true, generate: 8 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      if (i + 1 >= args.length) throw new ArgumentError(a, "needs a value", USAGE);
      return args[++i];
    };
    if (a === "--help" || a === "-h") return "help";
    else if (a === "--model") parsed.model = value();
    else if (a === "--prompt") parsed.prompt = value();
    else if (a === "--out") parsed.out = value();
    else if (a === "--target") parsed.targets.push(value());
    else if (a === "--backend") parsed.backend = value();
    else if (a === "--static") parsed.interactive = false;
    else if (a === "--compare") parsed.compare = value();
    else if (a === "--json") parsed.json = value();
    else if (a === "--pdf") parsed.pdf = value();
    else if (a === "--generate") {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 256) throw new ArgumentError("--generate", `must be an integer from 0 to 256, got "${v}"`);
      parsed.generate = n;
    } else if (a === "--attribution-steps") {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n === 1 || n > 4096) throw new ArgumentError("--attribution-steps", `must be 0 or an integer from 2 to 4096, got "${v}"`);
      parsed.attributionSteps = n;
    }
    else if (a === "--top-k") {
      const v = value();
      const k = Number(v);
      if (!Number.isInteger(k) || k < 1 || k > 100) throw new ArgumentError("--top-k", `must be an integer from 1 to 100, got "${v}"`);
      parsed.k = k;
    } else throw new ArgumentError(a, "is not an option of lmprobe probe", USAGE);
  }
  if (!parsed.prompt) throw new ArgumentError("--prompt", "is required", USAGE);
  return {
    model: parsed.model ?? "demo", prompt: parsed.prompt, out: parsed.out ?? "lmprobe-report.html", k: parsed.k ?? 5, targets: parsed.targets,
    backend: parsed.backend, interactive: parsed.interactive !== false, compare: parsed.compare, generate: parsed.generate ?? 8, json: parsed.json, pdf: parsed.pdf,
    ...(parsed.attributionSteps !== undefined ? { attributionSteps: parsed.attributionSteps } : {}),
  };
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseProbeArgs(args);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  // Before loading and probing: a report that cannot be written should fail in a second, not after the work.
  checkOutPath(parsed.out);
  if (parsed.json) checkOutPath(parsed.json, "--json");
  if (parsed.pdf) checkOutPath(parsed.pdf, "--pdf");
  let download: ReturnType<typeof progress> | undefined;
  const model = await loadModel(parsed.model === "demo" ? undefined : parsed.model, {
    backend: parsed.backend as never,
    onProgress: (p) => {
      if (p.total === null) return;
      download ??= progress(p.total / 1e6, { label: "download", unit: "MB" });
      download.update(p.bytes / 1e6);
    },
  });
  download?.finish();
  try {
    const stages = [...probeStages(model), ...overviewStages(model, parsed)];
    const bar = progress(stages.length, { label: "probing" });
    const onStage = (stage: string) => bar.update(stages.indexOf(stage));
    const overview = await overviewSections(model, { prompt: parsed.prompt, compare: parsed.compare, generate: parsed.generate, onStage });
    const sections = [overview[0], ...(await probeSections(model, { prompt: parsed.prompt, k: parsed.k, targets: parsed.targets, attributionSteps: parsed.attributionSteps, onStage })), ...overview.slice(1)];
    bar.finish();
    const report: ReportOptions = {
      title: `lmprobe report: ${model.name}`,
      facts: [
        ["model", model.name],
        ["architecture", `${model.config.modelType}, ${model.config.numLayers} layers, ${model.config.numHeads} heads`],
        ["prompt", parsed.prompt],
        ["tokens", model.toStrTokens(parsed.prompt).map((t) => JSON.stringify(t)).join(" ")],
      ],
      sections,
      interactive: parsed.interactive,
      provenance: await provenance(model),
    };
    const html = reportHtml(report);
    writeFileSync(parsed.out, html);
    console.log(`wrote ${path.resolve(parsed.out)} (${(html.length / 1024).toFixed(0)} KiB): open it in a browser, no network or server needed`);
    if (parsed.json) {
      const generated = overview.find((s) => s.title === "Generation replay")?.intro ?? null;
      writeFileSync(parsed.json, JSON.stringify(runFileOf(report, { prompt: parsed.prompt, generated, config: model.config.raw })));
      console.log(`wrote ${path.resolve(parsed.json)}: the whole run (lmprobe report ${parsed.json} renders it again)`);
    }
    if (parsed.pdf) {
      printPdf(parsed.out, parsed.pdf);
      console.log(`wrote ${path.resolve(parsed.pdf)}`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}

/** The report's folder must exist and be writable, and the path must not be a folder itself. */
export function checkOutPath(out: string, option = "--out"): void {
  const file = path.resolve(out);
  const dir = path.dirname(file);
  const stat = (p: string) => {
    try {
      return statSync(p);
    } catch {
      return null;
    }
  };
  const dirStat = stat(dir);
  if (!dirStat) throw new ArgumentError(option, `is "${out}" but its folder ${dir} does not exist`, `create it first (mkdir -p "${dir}") or write the report into an existing folder`);
  if (!dirStat.isDirectory()) throw new ArgumentError(option, `is "${out}" but ${dir} is not a folder`, "pass a path inside an existing folder");
  if (stat(file)?.isDirectory()) throw new ArgumentError(option, `is "${out}", which is a folder`, `name the file to write, e.g. --out "${path.join(out, "lmprobe-report.html")}"`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ArgumentError(option, `is "${out}" but the folder ${dir} is not writable`, "write the report into a folder you can write to");
  }
}
