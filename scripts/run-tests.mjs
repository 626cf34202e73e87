// Runs every test/**/*.test.ts with Node's test runner (TypeScript through tsx).
// `node scripts/run-tests.mjs [substring ...]` runs only the files whose path contains one of the substrings.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { runInGroup } from "./process-group.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === "fixtures" || name === "node_modules") return [];
    return statSync(full).isDirectory() ? walk(full) : full.endsWith(".test.ts") ? [full] : [];
  });
}
const filters = process.argv.slice(2);
// The notebook and browser tests need Debian's Jupyter and Chromium: install them when missing (as root), or say how.
if (filters.length === 0) {
  const deps = spawnSync("bash", [path.join(root, "scripts/system-deps.sh")], { stdio: "inherit" });
  if (deps.status !== 0) process.exit(deps.status ?? 1);
}
let files = walk(path.join(root, "test"))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
// The WebGPU kernel tests need an adapter in their own process; on Linux the software-adapter suite
// (test/backend/webgpu-software.test.ts) runs them on Mesa, so the full run leaves them out here instead of
// printing a skip for each (a filter naming them, or LMPROBE_WEBGPU_IN_PROCESS=1 on a GPU machine, runs them).
if (filters.length === 0 && process.platform === "linux" && !process.env.LMPROBE_WEBGPU_IN_PROCESS) {
  const listed = JSON.parse(readFileSync(path.join(root, "test/backend/webgpu-in-process.json"), "utf8")).files;
  const inProcess = new Set(listed.map((f) => path.join(root, "test/backend", `${f}.test.ts`)));
  files = files.filter((f) => !inProcess.has(f));
  console.log(`ℹ ${inProcess.size} WebGPU test files run in test/backend/webgpu-software.test.ts on a software adapter, not in this process`);
}
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
// The whole run has a wall-clock limit (LMPROBE_TEST_WALL_S, 40 minutes by default; a full run takes ~10 on two
// cores): past it the test files still running are named and killed, so a hang fails with its name instead of
// running into CI's own limit silently.
const wallS = Number(process.env.LMPROBE_TEST_WALL_S ?? 2400);
if (!(wallS > 0)) {
  console.error(`LMPROBE_TEST_WALL_S must be a positive number of seconds, got ${JSON.stringify(process.env.LMPROBE_TEST_WALL_S)}`);
  process.exit(1);
}
const result = await runInGroup(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", `--test-concurrency=${process.env.LMPROBE_TEST_CONCURRENCY ?? 2}`, ...files],
  { cwd: root, env: { ...process.env }, timeoutMs: wallS * 1000, label: "the test run" },
);
process.exit(result.timedOut ? 1 : (result.status ?? 1));
