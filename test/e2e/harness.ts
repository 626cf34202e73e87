// The pieces of the end-to-end tests: build, a kernel registered in a temporary Jupyter prefix, notebooks run
// with Debian's nbconvert, exported HTML, and headless Chromium.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

// LMPROBE_PACKAGE_ROOT tests another copy of the package (an installed one) with these tests.
export const ROOT = path.resolve(process.env.LMPROBE_PACKAGE_ROOT ?? path.join(__dirname, "..", ".."));
export const OUTPUT = path.resolve(__dirname, "..", "..", "test-output", "e2e");
export const NBCONVERT = "/usr/bin/jupyter-nbconvert";
export const CHROMIUM = "/usr/bin/chromium";

/** Why the e2e tests cannot run here, or undefined when they can. */
export function missingPrerequisite(): string | undefined {
  if (!existsSync(NBCONVERT)) return `${NBCONVERT} is missing (apt-get install jupyter-nbconvert python3-nbclient python3-ipykernel)`;
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  return undefined;
}

/** Builds dist/ when it is absent (npm test builds it first; a lone e2e run may not have). */
export function ensureBuilt(): void {
  if (existsSync(path.join(ROOT, "dist", "cjs", "index.js"))) return;
  execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
}

export interface JupyterEnv {
  prefix: string;
  env: NodeJS.ProcessEnv;
}

/** Registers the lmprobe kernel into a fresh temporary prefix with `lmprobe install-kernel --prefix`. */
export function installKernelInTempPrefix(): JupyterEnv {
  const base = mkdtempSync(path.join(os.tmpdir(), "lmprobe-jupyter-"));
  const prefix = path.join(base, "prefix");
  const out = execFileSync(process.execPath, [path.join(ROOT, "bin", "lmprobe.js"), "install-kernel", "--prefix", prefix], { encoding: "utf8" });
  if (!out.includes("installed at")) throw new Error(`install-kernel said: ${out}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: path.join(prefix, "share", "jupyter"),
    JUPYTER_DATA_DIR: path.join(base, "data"),
    JUPYTER_RUNTIME_DIR: path.join(base, "runtime"),
    JUPYTER_CONFIG_DIR: path.join(base, "config"),
    JUPYTER_PLATFORM_DIRS: "1",
    IPYTHONDIR: path.join(base, "ipython"),
  };
  return { prefix, env };
}

export interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

export interface Notebook {
  cells: Array<{ cell_type: string; source: string | string[]; outputs?: NotebookOutput[] }>;
}

const text = (t: string | string[] | undefined) => (Array.isArray(t) ? t.join("") : t ?? "");

/**
 * Executes `notebook` (a path) in `workDir` with `jupyter nbconvert --to notebook --execute`; a cell error fails
 * (nbconvert exits non-zero and its message, with the cell, is thrown). Returns the executed notebook's path.
 */
export function executeNotebook(jupyter: JupyterEnv, notebook: string, workDir: string, options: { allowErrors?: boolean; timeoutS?: number } = {}): string {
  mkdirSync(workDir, { recursive: true });
  const name = path.basename(notebook, ".ipynb");
  const timeoutS = options.timeoutS ?? 240;
  const result = spawnSync(
    NBCONVERT,
    [
      "--to", "notebook", "--execute", `--ExecutePreprocessor.timeout=${timeoutS}`, "--ExecutePreprocessor.kernel_name=lmprobe",
      ...(options.allowErrors ? ["--allow-errors"] : []),
      "--output-dir", workDir, "--output", `${name}.executed.ipynb`, notebook,
    ],
    { cwd: workDir, env: jupyter.env, encoding: "utf8", timeout: (timeoutS + 60) * 1000 },
  );
  if (result.status !== 0) {
    // The kernel answers a failing cell with a Jupyter error, which nbconvert's message quotes (cell, traceback).
    const tail = (result.stderr ?? "").split("\n").slice(-40).join("\n");
    throw new Error(`nbconvert --execute failed on ${notebook} (exit ${result.status}):\n${tail}`);
  }
  return path.join(workDir, `${name}.executed.ipynb`);
}

export function readNotebook(file: string): Notebook {
  return JSON.parse(readFileSync(file, "utf8")) as Notebook;
}

export function outputsOf(nb: Notebook): NotebookOutput[] {
  return nb.cells.flatMap((c) => c.outputs ?? []);
}

/** Text written to stderr or as errors by any cell (exceptions and type errors are `error` outputs). */
export function errorTextOf(nb: Notebook): string {
  return outputsOf(nb)
    .filter((o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"))
    .map((o) => `${o.ename ?? ""} ${o.evalue ?? ""} ${text(o.text)}`)
    .join("\n");
}

export const CHART_MIMES = ["application/vnd.vegalite.v5+json", "image/svg+xml", "text/html", "text/plain"];

/** Display outputs that are charts (they carry the Vega-Lite MIME type). */
export function chartOutputs(nb: Notebook): NotebookOutput[] {
  return outputsOf(nb).filter((o) => o.output_type === "display_data" && o.data && "application/vnd.vegalite.v5+json" in o.data);
}

/** Exports an executed notebook to HTML with `jupyter nbconvert --to html` (Debian's template, requirejs on the page). */
export function exportHtml(jupyter: JupyterEnv, executed: string): string {
  execFileSync(NBCONVERT, ["--to", "html", executed], { env: jupyter.env, stdio: "pipe" });
  return executed.replace(/\.ipynb$/, ".html");
}

export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
