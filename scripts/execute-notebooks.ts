// Writes notebooks/executed/<name>.ipynb: each example notebook executed by Debian's nbconvert in the lmprobe
// kernel (registered in a temporary prefix, as the e2e tests do), from a fresh directory holding only the
// notebook and its data. Charts keep all four MIME types, but the Vega libraries are not inlined
// (LMPROBE_INLINE_VEGA=0): a code host shows the static SVG, and each notebook stays small.
// Run after `npm run build`: node --import tsx scripts/execute-notebooks.ts [name ...]
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chartOutputs, ensureBuilt, errorTextOf, executeNotebook, installKernelInTempPrefix, missingPrerequisite, readNotebook, ROOT } from "../test/e2e/harness";

/** Data folders a notebook reads, copied beside it (the e2e test copies the same). */
const EXTRAS: Record<string, string[]> = { "moe-routing": ["tiny-mixtral"], "mlxlmprobe-tour": ["tiny-mixtral"] };

function main(): number {
  const missing = missingPrerequisite();
  if (missing) {
    console.error(missing);
    return 1;
  }
  ensureBuilt();
  const source = path.join(ROOT, "notebooks");
  const target = path.join(source, "executed");
  const wanted = process.argv.slice(2);
  const names = readdirSync(source)
    .filter((f) => f.endsWith(".ipynb"))
    .map((f) => f.replace(/\.ipynb$/, ""))
    .filter((n) => wanted.length === 0 || wanted.includes(n));
  const jupyter = installKernelInTempPrefix();
  jupyter.env.LMPROBE_INLINE_VEGA = "0";
  const work = mkdtempSync(path.join(os.tmpdir(), "lmprobe-execute-"));
  mkdirSync(target, { recursive: true });
  for (const name of names) {
    const dir = path.join(work, name);
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(source, `${name}.ipynb`), path.join(dir, `${name}.ipynb`));
    for (const extra of EXTRAS[name] ?? []) cpSync(path.join(source, extra), path.join(dir, extra), { recursive: true });
    const executed = executeNotebook(jupyter, path.join(dir, `${name}.ipynb`), dir);
    const nb = readNotebook(executed);
    const errors = errorTextOf(nb);
    if (errors) throw new Error(`${name}: a cell wrote an error:\n${errors}`);
    // The kernel's execute_input messages give each cell its count; a notebook without them shows In [ ].
    const counts = (nb.cells as Array<{ cell_type: string; execution_count?: number | null }>).filter((c) => c.cell_type === "code").map((c) => c.execution_count);
    if (counts.some((n, i) => n !== i + 1)) throw new Error(`${name}: execution counts are ${JSON.stringify(counts)}, not 1…${counts.length}`);
    const out = path.join(target, `${name}.ipynb`);
    copyFileSync(executed, out);
    console.log(`${path.relative(ROOT, out)}: ${chartOutputs(nb).length} charts, ${(statSync(out).size / 1024).toFixed(0)} KiB`);
  }
  return 0;
}

process.exitCode = main();
