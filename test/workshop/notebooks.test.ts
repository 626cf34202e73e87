// The workshop notebooks: both copies current with their sources; every check right on the solutions and every
// task unanswered (not failing) on the exercises, run as scripts against the sources. test/e2e runs the
// solutions again through Jupyter and times every cell.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { notebookScript } from "../notebooks/notebook-script";
import { exerciseList } from "../../src/workshop/exercises";

const ROOT = path.resolve(__dirname, "..", "..");
const DIR = path.join(ROOT, "notebooks", "workshop");
const SCRIPTS = path.join(ROOT, "test-output", "workshop-scripts");
const sources = readdirSync(path.join(DIR, "src")).filter((f) => f.endsWith(".ts")).sort();

test("five notebooks in teaching order; the exercise and solution copies match their sources", async () => {
  const { workshopNotebooks } = await import("../../scripts/workshop-notebooks.mjs");
  assert.ok(sources.length >= 5);
  for (const file of sources) {
    const name = file.replace(/\.ts$/, ".ipynb");
    const expected = workshopNotebooks(readFileSync(path.join(DIR, "src", file), "utf8"));
    assert.equal(readFileSync(path.join(DIR, name), "utf8"), expected.exercise, `${name} is current (node scripts/workshop-notebooks.mjs)`);
    assert.equal(readFileSync(path.join(DIR, "solutions", name), "utf8"), expected.solution, `solutions/${name} is current`);
    assert.doesNotMatch(expected.exercise, /\/\* solution \*\//, "no answer left in the exercise");
  }
});

function runNotebook(file: string): string {
  mkdirSync(SCRIPTS, { recursive: true });
  const script = path.join(SCRIPTS, path.basename(path.dirname(file)) + "-" + path.basename(file).replace(/\.ipynb$/, ".ts"));
  writeFileSync(script, notebookScript(JSON.parse(readFileSync(file, "utf8")), path.join(ROOT, "src", "index.ts")));
  const run = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: DIR, encoding: "utf8", timeout: 170_000 });
  assert.equal(run.status, 0, `${file} failed:\n${run.stderr.slice(-3000)}`);
  return run.stdout;
}

test("solutions: every check of every exercise says right", { timeout: 600_000 }, () => {
  const seen = new Set<string>();
  for (const file of sources) {
    const out = runNotebook(path.join(DIR, "solutions", file.replace(/\.ts$/, ".ipynb")));
    for (const m of out.matchAll(/^(\d\.\d): (✔ right|≈ close|✘ wrong|… not answered yet)/gm)) {
      assert.equal(m[2], "✔ right", `${file}: exercise ${m[1]} is ${m[2]}`);
      seen.add(m[1]);
    }
  }
  assert.deepEqual([...seen].sort(), exerciseList().map((e) => e.id).sort(), "every exercise is checked by a solution");
});

test("exercises: run as given, each task waits for an answer", { timeout: 600_000 }, () => {
  for (const file of sources) {
    const out = runNotebook(path.join(DIR, file.replace(/\.ts$/, ".ipynb")));
    const verdicts = [...out.matchAll(/^(\d\.\d): (.*?)\./gm)].map((m) => m[2]);
    assert.ok(verdicts.length > 0 && verdicts.every((v) => v === "… not answered yet"), `${file}: ${verdicts}`);
  }
});
