// Turns a notebook's code cells into one TypeScript script that runs under tsx with `lmprobe` mapped onto the
// sources, so the claims a notebook asserts are checked in the ordinary test suite, in seconds, without Jupyter.
import { readFileSync } from "node:fs";
import path from "node:path";

export const NOTEBOOKS_DIR = path.resolve(__dirname, "..", "..", "notebooks");

export interface NotebookJson {
  cells: Array<{ cell_type: string; source: string | string[]; outputs?: unknown[]; execution_count?: number | null }>;
  metadata: { kernelspec?: { name?: string; display_name?: string } };
}

export function readNotebookJson(file: string): NotebookJson {
  return JSON.parse(readFileSync(file, "utf8")) as NotebookJson;
}

export function codeCells(nb: NotebookJson): string[] {
  return nb.cells.filter((c) => c.cell_type === "code").map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));
}

/**
 * One script: import lines hoisted to the top with "lmprobe" replaced by `lmprobeModule`, every other line inside
 * an async function (the notebooks use top-level await, which CommonJS scripts do not have).
 */
export function notebookScript(nb: NotebookJson, lmprobeModule: string): string {
  const imports: string[] = [];
  const body: string[] = [];
  for (const cell of codeCells(nb)) {
    for (const line of cell.split("\n")) {
      if (/^import .* from "[^"]+";$/.test(line)) imports.push(line.replace(/from "lmprobe";$/, `from ${JSON.stringify(lmprobeModule)};`));
      else body.push(line);
    }
  }
  return [...imports, "(async () => {", ...body, "})().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });", ""].join("\n");
}
