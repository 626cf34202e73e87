// The workshop as a class would run it: `lmprobe workshop init --solutions` into a fresh folder, each solutions
// notebook executed by Debian's nbconvert in the lmprobe kernel, every check right, and every cell's time (from
// nbclient's cell hooks, timed-execute.py) under the 10 s a participant on a 2-core laptop should wait.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, ensureBuilt, errorTextOf, installKernelInTempPrefix, missingPrerequisite, type JupyterEnv } from "./harness";

const skip = missingPrerequisite();

type Cell = { cell_type: string; source: string | string[]; metadata?: { lmprobe_seconds?: number }; outputs?: { data?: Record<string, unknown> }[] };

describe("workshop solutions in Jupyter", { skip, timeout: 900_000 }, () => {
  let jupyter: JupyterEnv;
  let dir: string;
  before(() => {
    ensureBuilt();
    jupyter = installKernelInTempPrefix();
    dir = path.join(mkdtempSync(path.join(os.tmpdir(), "lmprobe-workshop-")), "class");
    execFileSync(process.execPath, [path.join(ROOT, "bin", "lmprobe.js"), "workshop", "init", dir, "--solutions"], { encoding: "utf8" });
  });

  test("every solution runs, every check is right, every cell under 10 s", () => {
    const solutions = readdirSync(path.join(dir, "solutions")).filter((f) => f.endsWith(".ipynb")).sort();
    assert.ok(solutions.length >= 5);
    // The first code cell of each notebook starts the kernel's TypeScript and loads lmprobe and the model: timed
    // apart, with a looser bound; every other cell is a task and must answer within 10 s.
    let slowest = { seconds: 0, where: "" };
    let startup = { seconds: 0, where: "" };
    for (const file of solutions) {
      const executed = path.join(dir, "solutions", file.replace(/\.ipynb$/, ".executed.ipynb"));
      execFileSync("/usr/bin/python3", [path.join(__dirname, "timed-execute.py"), path.join(dir, "solutions", file), executed, path.join(dir, "solutions")], { env: jupyter.env, encoding: "utf8", timeout: 600_000 });
      const nb = JSON.parse(readFileSync(executed, "utf8")) as { cells: Cell[] };
      assert.equal(errorTextOf(nb as never), "", `${file}: no cell failed`);
      const verdicts = nb.cells.flatMap((c) => c.outputs ?? []).map((o) => String(o.data?.["text/plain"] ?? "")).filter((t) => /^\d\.\d: /.test(t));
      assert.ok(verdicts.length >= 2, `${file} shows its checks`);
      for (const v of verdicts) assert.match(v, /^\d\.\d: ✔ right/, `${file}: ${v}`);
      const code = nb.cells.map((c, i) => ({ c, i })).filter(({ c }) => c.cell_type === "code");
      code.forEach(({ c, i }, n) => {
        const seconds = c.metadata?.lmprobe_seconds;
        if (typeof seconds !== "number") return;
        if (n === 0) {
          if (seconds >= startup.seconds) startup = { seconds, where: `${file} cell ${i}` };
        } else if (seconds >= slowest.seconds) slowest = { seconds, where: `${file} cell ${i}` };
      });
    }
    console.log(`slowest workshop task cell: ${slowest.where}, ${slowest.seconds.toFixed(2)} s; slowest first cell (kernel start, import, load): ${startup.where}, ${startup.seconds.toFixed(2)} s`);
    assert.ok(startup.seconds < 30, `${startup.where} took ${startup.seconds.toFixed(2)} s to start`);
    assert.ok(slowest.where !== "", "every code cell was timed");
    assert.ok(slowest.seconds < 10, `${slowest.where} took ${slowest.seconds.toFixed(2)} s`);
  });
});
