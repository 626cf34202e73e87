// The lmprobe kernel as Jupyter front ends see it: requests sent through Jupyter's client protocol (Debian's
// jupyter_client, test/e2e/kernel_client.py) and notebooks run by nbconvert. A failing cell must answer with an
// `error` (name, value, a traceback quoting the cell's line), later cells must run, counts must be real, and
// object shorthand naming an earlier cell's binding must work.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBuilt, executeNotebook, installKernelInTempPrefix, missingPrerequisite, NBCONVERT, readNotebook, type JupyterEnv } from "./harness";

interface Request {
  code: string;
  stop_on_error?: boolean;
  /** Seconds to wait before sending this request, after the one before it in its batch. */
  delay_s?: number;
}
interface Answer {
  reply: { status: string; execution_count?: number; ename?: string; evalue?: string; traceback?: string[] };
  iopub: Array<{ msg_type: string; content: Record<string, unknown> }>;
}

const skip = missingPrerequisite();
const workRoot = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));

/** Runs the batches through a fresh kernel (each batch sent at once, the next after all its replies). */
function talk(jupyter: JupyterEnv, batches: Request[][]): Answer[] {
  const dir = mkdtempSync(path.join(workRoot, "session-"));
  const result = spawnSync("/usr/bin/python3", [path.join(__dirname, "kernel_client.py")], {
    input: JSON.stringify({ kernel: "lmprobe", batches }),
    cwd: dir,
    env: jupyter.env,
    encoding: "utf8",
    timeout: 600_000,
  });
  assert.equal(result.status, 0, `kernel_client.py failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as Answer[];
}

const streamText = (a: Answer, name = "stdout") =>
  a.iopub.filter((m) => m.msg_type === "stream" && m.content.name === name).map((m) => m.content.text).join("");
const errorsOf = (a: Answer) => a.iopub.filter((m) => m.msg_type === "error").map((m) => m.content as { ename: string; evalue: string; traceback: string[] });

describe("the lmprobe kernel through Jupyter's protocol", { skip, timeout: 600_000 }, () => {
  let jupyter: JupyterEnv;
  before(() => {
    ensureBuilt();
    jupyter = installKernelInTempPrefix();
  });

  test("a failing cell answers with an error quoting its line; the request right behind it runs", () => {
    const [ok, failed, after] = talk(jupyter, [
      [{ code: 'const a = 1;\nconsole.log("a", a);' }],
      [
        { code: 'const b = 2;\nthrow new RangeError("too far");\nconsole.log("never");', stop_on_error: false },
        { code: 'console.log("after", a);' },
      ],
    ]);
    assert.equal(ok.reply.status, "ok");
    assert.equal(streamText(ok), "a 1\n");

    assert.equal(failed.reply.status, "error");
    assert.equal(failed.reply.ename, "RangeError");
    assert.equal(failed.reply.evalue, "too far");
    const [error] = errorsOf(failed);
    assert.ok(error, "an error message was published on iopub");
    assert.deepEqual([error.ename, error.evalue], ["RangeError", "too far"]);
    const tb = error.traceback.join("\n");
    assert.match(tb, /Cell In\[2\], line 2/, "the traceback names the cell and its line");
    assert.match(tb, /--> +2 \| throw new RangeError\("too far"\);/, "and quotes the line");
    assert.doesNotMatch(tb, /tslab|node:vm/, "the kernel's own frames are left out");
    assert.equal(streamText(failed, "stderr"), "", "nothing is written to stderr instead");
    assert.equal(streamText(failed), "");

    assert.equal(after.reply.status, "ok", "the request sent right after the failing one ran");
    assert.equal(streamText(after), "after 1\n", "with the bindings of the cells that ran");

    // Counts are real: in each reply and in each execute_input.
    assert.deepEqual([ok, failed, after].map((x) => x.reply.execution_count), [1, 2, 3]);
    assert.deepEqual(
      [ok, failed, after].map((x) => x.iopub.find((m) => m.msg_type === "execute_input")?.content.execution_count),
      [1, 2, 3],
    );
  });

  test("stop_on_error aborts the requests already queued, not the ones sent after the error", () => {
    const [failed, queued, later] = talk(jupyter, [
      // The failing cell first spends three seconds, so the request behind it is surely queued when the error comes
      // (on a loaded machine it could otherwise arrive after the failure and rightly run; one second was once too
      // little with the whole suite running on 2 cores).
      [{ code: 'const until = Date.now() + 3000; while (Date.now() < until) {}\nthrow new Error("stop here");', stop_on_error: true }, { code: 'console.log("queued");' }],
      [{ code: 'console.log("later");' }],
    ]);
    assert.equal(failed.reply.status, "error");
    assert.equal(queued.reply.status, "aborted");
    assert.equal(streamText(queued), "");
    assert.equal(later.reply.status, "ok");
    assert.equal(streamText(later), "later\n");
  });

  test("stop_on_error also aborts a request that arrived while the failing cell held the thread", () => {
    // Sent a second into the failing cell's three-second loop: it waits in the socket, unread, until the cell ends.
    const [failed, arrivedDuring, later] = talk(jupyter, [
      [
        { code: 'const until2 = Date.now() + 3000; while (Date.now() < until2) {}\nthrow new Error("stop here");', stop_on_error: true },
        { code: 'console.log("arrived during");', delay_s: 1 },
      ],
      [{ code: 'console.log("later");' }],
    ]);
    assert.equal(failed.reply.status, "error");
    assert.equal(arrivedDuring.reply.status, "aborted");
    assert.equal(streamText(arrivedDuring), "");
    assert.equal(later.reply.status, "ok");
  });

  test("lmprobe's typed errors show their fix, and a frame in an earlier cell's function points at that cell", () => {
    const answers = talk(jupyter, [
      [{ code: 'import { loadModel } from "lmprobe";' }],
      [{ code: "// a helper\nasync function load(dir: string) {\n  return await loadModel(dir);\n}" }],
      [{ code: 'const m = await load("./no-such-checkpoint");', stop_on_error: false }],
    ]);
    const failed = answers[2];
    assert.equal(failed.reply.status, "error");
    assert.equal(failed.reply.ename, "MissingFileError");
    assert.match(failed.reply.evalue!, /no-such-checkpoint/);
    assert.match(failed.reply.evalue!, /fix: check the path/);
    const tb = failed.reply.traceback!.join("\n");
    assert.match(tb, /at async (Proxy\.)?load \(Cell In\[2\], line 3:\d+\)/, "the helper's frame points at line 3 of cell 2");
    assert.match(tb, /Cell In\[3\], line 1:\d+/, "the calling cell's frame is there too");
    assert.match(tb, /--> +3 \|   return await loadModel\(dir\);/, "the innermost cell line is quoted");
  });

  test("a type error is an error naming the line and column as written, and the cell does not run", () => {
    const [, failed, after] = talk(jupyter, [
      [{ code: "const clean = 1;" }],
      [{ code: 'const o2 = { clean }; const z: number = "s";\nconsole.log("ran");', stop_on_error: false }],
      [{ code: 'console.log("next");' }],
    ]);
    assert.equal(failed.reply.status, "error");
    assert.equal(failed.reply.ename, "TSError");
    // Column 29 of the line as written (the shorthand `{ clean }` is expanded before compiling).
    assert.equal(failed.reply.evalue, "line 1:29 - Type 'string' is not assignable to type 'number'.");
    assert.equal(streamText(failed), "");
    assert.equal(streamText(after), "next\n");
  });

  test("object shorthand naming an earlier cell's binding or import works", () => {
    const answers = talk(jupyter, [
      [{ code: 'import { escapeHtml } from "lmprobe/internal";\nconst clean = "<b>";\nlet count = 1;' }],
      [
        {
          code: [
            "const o = { clean, count, escapeHtml };",
            "console.log(JSON.stringify({ clean, count }), o.escapeHtml(o.clean));",
            "const f = () => ({ clean });",
            "console.log(f().clean);",
            "({ count } = { count: 5 });",
            "console.log(count);",
          ].join("\n"),
        },
      ],
      [{ code: "console.log(count, { count }.count);" }],
    ]);
    assert.deepEqual(answers.map((a) => a.reply.status), ["ok", "ok", "ok"], JSON.stringify(answers.map(errorsOf)));
    assert.equal(streamText(answers[1]), '{"clean":"<b>","count":1} &lt;b&gt;\n<b>\n5\n');
    assert.equal(streamText(answers[2]), "5 5\n", "the destructuring assignment changed the earlier binding");
  });
});

describe("the lmprobe kernel under nbconvert", { skip, timeout: 600_000 }, () => {
  let jupyter: JupyterEnv;
  const cells = ['const one = 1;\nconsole.log("one");', 'const two = 2;\nthrow new RangeError("cell two failed");', 'console.log("three", one);', "const four = 4;"];
  let notebook: string;
  before(() => {
    ensureBuilt();
    jupyter = installKernelInTempPrefix();
    const dir = mkdtempSync(path.join(workRoot, "nbconvert-"));
    notebook = path.join(dir, "errors.ipynb");
    writeFileSync(
      notebook,
      JSON.stringify({
        cells: cells.map((source) => ({ cell_type: "code", execution_count: null, metadata: {}, outputs: [], source })),
        metadata: { kernelspec: { name: "lmprobe", display_name: "TypeScript (lmprobe)", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
  });

  test("--allow-errors: the failing cell shows its error, the cells after it their outputs, every cell its count", () => {
    const dir = path.join(path.dirname(notebook), "allow");
    mkdirSync(dir);
    const nb = readNotebook(executeNotebook(jupyter, notebook, dir, { allowErrors: true })) as unknown as {
      cells: Array<{ execution_count: number | null; outputs: Array<{ output_type: string; text?: string[]; ename?: string; evalue?: string; traceback?: string[] }> }>;
    };
    assert.deepEqual(nb.cells.map((c) => c.execution_count), [1, 2, 3, 4]);
    const [error] = nb.cells[1].outputs;
    assert.deepEqual([error.output_type, error.ename, error.evalue], ["error", "RangeError", "cell two failed"]);
    assert.match(error.traceback!.join("\n"), /Cell In\[2\], line 2/);
    assert.deepEqual(nb.cells[2].outputs.map((o) => o.text?.join("")), ["three 1\n"]);
  });

  test("without --allow-errors nbconvert stops and its message carries the error's name, value and cell line", () => {
    const dir = path.join(path.dirname(notebook), "strict");
    mkdirSync(dir);
    const result = spawnSync(NBCONVERT, ["--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=lmprobe", "--output-dir", dir, notebook], {
      cwd: dir,
      env: jupyter.env,
      encoding: "utf8",
      timeout: 300_000,
    });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /RangeError: cell two failed/);
    assert.match(result.stderr, /Cell In\[2\], line 2/);
    assert.doesNotMatch(result.stderr, /<Error>/);
  });
});
