// The CPU path on checkpoints whose float32 form does not fit host memory: each block read from the BF16 files and
// widened to float32 when the forward pass reaches it (loadModel's layerStreaming). One JSON line per case, then a
// summary: load time and its peak RSS, forward and probe (bench/cpu-bench-worker.ts's definitions) and the peak RSS
// after them. The baseline, in the same run: the Qwen2.5-1.5B shape loaded whole against the same files streamed
// ("-streamed"), which gives what streaming costs where both fit; the Llama-3.1-8B shape (32 GB in float32) loads
// only streamed on a 24 GiB machine. Each case runs in a fresh worker process, one after the other.
//   node bench/cpu-streamed.mjs [--cases qwen2.5-1.5b,qwen2.5-1.5b-streamed,llama3.1-8b] [--positions 128]
//        [--forwards 3] [--probes 2]
// Checkpoints are written once to LMPROBE_BENCH_MODELS (default the system's temporary folder): ~3 GB and ~16 GB.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { ROOT, median, option } from "./cli.mjs";

const require = createRequire(import.meta.url);
require("tsx/cjs");
const { MALLOC_TUNABLES } = require("../src/backend/native/malloc-tuning.ts");

const cases = option("cases", "qwen2.5-1.5b,qwen2.5-1.5b-streamed,llama3.1-8b").split(",");
const positions = Number(option("positions", "128"));
const forwards = Number(option("forwards", "3"));
const probes = Number(option("probes", "2"));
const cpu = (fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? os.cpus()[0]?.model;

/** One bench/cpu-bench-worker.ts process: ask(cmd) resolves with its next JSON line. */
function startWorker(name) {
  const env = { ...process.env, GLIBC_TUNABLES: MALLOC_TUNABLES };
  const child = spawn(process.execPath, ["--require", path.join(ROOT, "bench/native-deps.cjs"), "--import", "tsx", path.join(ROOT, "bench/cpu-bench-worker.ts"), name, String(positions)], { cwd: ROOT, env, stdio: ["pipe", "pipe", "inherit"] });
  const waiting = [];
  let failed = null;
  createInterface({ input: child.stdout }).on("line", (line) => {
    if (line.startsWith("{")) waiting.shift()?.resolve(JSON.parse(line));
  });
  child.on("exit", (code) => {
    failed = new Error(`worker for ${name} exited with ${code}`);
    for (const w of waiting.splice(0)) w.reject(failed);
  });
  const next = () => new Promise((resolve, reject) => (failed ? reject(failed) : waiting.push({ resolve, reject })));
  const ready = next();
  return {
    ready,
    ask: (cmd) => {
      const answer = next();
      child.stdin.write(cmd + "\n");
      return answer;
    },
    quit: () => new Promise((resolve) => {
      child.removeAllListeners("exit");
      child.once("exit", resolve);
      child.stdin.write("quit\n");
    }),
  };
}

async function runCase(name) {
  const started = performance.now();
  const w = startWorker(name);
  const info = await w.ready;
  const readyMs = performance.now() - started;
  const times = async (phase, n) => {
    await w.ask(phase); // the first pass compiles and builds sessions: not counted
    const ms = [];
    for (let i = 0; i < n; i++) ms.push((await w.ask(phase)).ms);
    return ms;
  };
  const forward = await times("forward", forwards);
  const probe = await times("probe", probes);
  const { peak_rss_mb } = await w.ask("rss");
  await w.quit();
  return {
    name, positions, streamed: info.streamed, backend: info.backend, threads: os.availableParallelism(), cpu,
    float32_weights_mb: Math.round(info.float32_weights_mb), host_memory_mb: Math.round(os.totalmem() / 2 ** 20),
    load_ms: Math.round(info.load_ms), checkpoint_write_ms: Math.round(info.checkpoint_write_ms), process_ready_ms: Math.round(readyMs), load_peak_rss_mb: Math.round(info.load_peak_rss_mb),
    forward_ms: Math.round(median(forward)), forward_all_ms: forward.map(Math.round), probe_ms: Math.round(median(probe)), probe_all_ms: probe.map(Math.round),
    peak_rss_mb: Math.round(peak_rss_mb), peak_rss_over_float32_weights: +(peak_rss_mb / info.float32_weights_mb).toFixed(3),
  };
}

const results = {};
let failures = 0;
for (const name of cases) {
  try {
    const r = await runCase(name);
    results[name] = r;
    console.log(JSON.stringify(r));
  } catch (e) {
    failures++;
    console.log(JSON.stringify({ name, positions, error: e.message }));
  }
}
for (const [name, r] of Object.entries(results)) {
  const whole = results[name.replace(/-streamed$/, "")];
  if (!name.endsWith("-streamed") || !whole || whole.streamed) continue;
  console.log(JSON.stringify({
    name: `${whole.name}: streamed ÷ whole`, phase: "summary", positions,
    load_ratio: +(r.load_ms / whole.load_ms).toFixed(2), forward_ratio: +(r.forward_ms / whole.forward_ms).toFixed(2), probe_ratio: +(r.probe_ms / whole.probe_ms).toFixed(2),
    peak_rss_ratio: +(r.peak_rss_mb / whole.peak_rss_mb).toFixed(2),
  }));
}
if (failures > 0) process.exitCode = 1;
