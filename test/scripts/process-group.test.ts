// The test runner's watchdog: a command that outlives its limit is killed with everything it started, even a
// grandchild holding the output pipe (which would keep a plain spawnSync waiting), and the processes are named.
import assert from "node:assert/strict";
import { test } from "node:test";
import { groupProcesses, runInGroup } from "../../scripts/process-group.mjs";

const linux = process.platform === "linux";

test("a command past its limit is killed with its grandchildren, and the group's processes are listed", { skip: !linux && "reads /proc" }, async () => {
  const started = Date.now();
  const stderrWrite = process.stderr.write.bind(process.stderr);
  let report = "";
  process.stderr.write = ((chunk: string | Uint8Array) => ((report += String(chunk)), true)) as typeof process.stderr.write;
  let r;
  try {
    // The grandchild keeps stdout open; the shell waits on it.
    r = await runInGroup("bash", ["-c", "sleep 61 & echo started; wait"], { timeoutMs: 1500, capture: true, label: "the sleeper" });
  } finally {
    process.stderr.write = stderrWrite;
  }
  assert.ok(Date.now() - started < 10_000, `returned after ${Date.now() - started} ms`);
  assert.equal(r.timedOut, true);
  assert.match(r.output, /started/);
  assert.match(report, /the sleeper ran past its 2 s limit/);
  assert.match(report, /sleep 61/, "the grandchild is named");
  const leader = /(\d+) {2}\d+ s {2}bash/.exec(report);
  assert.ok(leader, `the shell, the group's leader, is listed:\n${report}`);
  assert.deepEqual(groupProcesses(Number(leader[1])), [], "nothing of the group survives");
});

test("a command within its limit returns its status and output", async () => {
  const r = await runInGroup(process.execPath, ["-e", "console.log('hi'); process.exit(3)"], { timeoutMs: 30_000, capture: true });
  assert.deepEqual([r.status, r.timedOut, r.output.trim()], [3, false, "hi"]);
});
