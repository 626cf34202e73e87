// Converts a notebook written in the "percent" script format (cells start with `// %%`, markdown cells with
// `// %% [markdown]` and their lines prefixed by `// `) into an .ipynb with outputs stripped, for the
// "TypeScript (lmprobe)" kernel. `node scripts/notebook-from-percent.mjs in.ts out.ipynb`
import { readFileSync, writeFileSync } from "node:fs";

export function percentToNotebook(source) {
  const cells = [];
  let current = null;
  for (const line of source.split("\n")) {
    const m = /^\/\/ %%( \[markdown\])?\s*$/.exec(line);
    if (m) {
      if (current) cells.push(current);
      current = { kind: m[1] ? "markdown" : "code", lines: [] };
      continue;
    }
    if (!current) continue;
    current.lines.push(current.kind === "markdown" ? line.replace(/^\/\/ ?/, "") : line);
  }
  if (current) cells.push(current);
  const toSource = (lines) => {
    while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
    while (lines.length && lines[0].trim() === "") lines.shift();
    return lines.map((l, i) => (i < lines.length - 1 ? `${l}\n` : l));
  };
  return {
    cells: cells.map((c) =>
      c.kind === "markdown"
        ? { cell_type: "markdown", metadata: {}, source: toSource(c.lines) }
        : { cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: toSource(c.lines) },
    ),
    metadata: {
      kernelspec: { display_name: "TypeScript (lmprobe)", language: "typescript", name: "lmprobe" },
      language_info: { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const [input, output] = process.argv.slice(2);
  const nb = percentToNotebook(readFileSync(input, "utf8"));
  nb.cells.forEach((c, i) => (c.id = `cell-${i}`));
  writeFileSync(output, `${JSON.stringify(nb, null, 1)}\n`);
}
