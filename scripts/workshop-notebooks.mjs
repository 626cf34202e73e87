// Writes the workshop's notebooks from their sources in notebooks/workshop/src/*.ts (percent format): the exercise
// copy (notebooks/workshop/NN-name.ipynb), where each `/* solution */ … /* end */` answer becomes a blank for the
// participant, and the solutions copy (notebooks/workshop/solutions/NN-name.ipynb) with the answers in place.
// `node scripts/workshop-notebooks.mjs`; the tests check both copies are current.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { percentToNotebook } from "./notebook-from-percent.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
export const WORKSHOP_DIR = path.join(root, "notebooks", "workshop");
const SOLUTION = /\/\*\s*solution\s*\*\/\s*([\s\S]*?)\s*\/\*\s*end\s*\*\//g;

/** The exercise and solution notebooks of one source, as JSON text. */
export function workshopNotebooks(source) {
  const write = (text) => {
    const nb = percentToNotebook(text);
    nb.cells.forEach((c, i) => (c.id = `cell-${i}`));
    return `${JSON.stringify(nb, null, 1)}\n`;
  };
  return {
    exercise: write(source.replace(SOLUTION, "(undefined as any) /* your answer */")),
    solution: write(source.replace(SOLUTION, "$1")),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  mkdirSync(path.join(WORKSHOP_DIR, "solutions"), { recursive: true });
  for (const file of readdirSync(path.join(WORKSHOP_DIR, "src")).filter((f) => f.endsWith(".ts")).sort()) {
    const name = file.replace(/\.ts$/, ".ipynb");
    const { exercise, solution } = workshopNotebooks(readFileSync(path.join(WORKSHOP_DIR, "src", file), "utf8"));
    writeFileSync(path.join(WORKSHOP_DIR, name), exercise);
    writeFileSync(path.join(WORKSHOP_DIR, "solutions", name), solution);
    console.log(`notebooks/workshop/${name} and solutions/${name}`);
  }
}
