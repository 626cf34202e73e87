// Where a CPU forward pass's time runs, thread by thread: the CPU time each thread of this process used per pass
// (/proc/self/task/*/stat), over passes separated by pauses (as bench/cpu-vs-torch.mjs's scaling lines time them).
// Why: on two cores a pass cannot be faster than its busiest thread, so the main thread's share beside the pool
// worker's bounds what a second thread can give (the 1.7× from one thread to all on 2 cores). Run it once
// with LMPROBE_THREADS=1 and once with the default. Prints one JSON line: wall and CPU ms per pass, per thread (those
// above 0.5 ms a pass), and the process's minor page faults per pass. Linux only.
//   LMPROBE_THREADS=1 node --require ./bench/native-deps.cjs --import tsx bench/cpu-thread-time.ts [--model gpt2-small] [--positions 128] [--passes 40]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { ensureBackend } from "../src/backend";
import { loadBenchModel } from "./cpu-bench-models";

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** utime + stime of each thread of this process, in clock ticks, by "tid:name". */
function threadTicks(): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of fs.readdirSync("/proc/self/task")) {
    try {
      const raw = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      const name = raw.slice(raw.indexOf("(") + 1, raw.lastIndexOf(")"));
      const fields = raw.slice(raw.lastIndexOf(")") + 2).split(" ");
      ticks.set(`${tid}:${name}`, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ticks;
}

function clockTicksPerSecond(): number {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const hz = Number(out.stdout?.trim());
  if (out.status !== 0 || !(hz > 0)) throw new Error(`bench/cpu-thread-time.ts: \`getconf CLK_TCK\` gave no clock rate (${out.stderr || out.error})`);
  return hz;
}

function minorFaults(): number {
  const raw = fs.readFileSync("/proc/self/stat", "utf8");
  return Number(raw.slice(raw.lastIndexOf(")") + 2).split(" ")[7]);
}

async function main(): Promise<void> {
  if (process.platform !== "linux") throw new Error("bench/cpu-thread-time.ts reads /proc: Linux only");
  const name = option("model", "gpt2-small");
  const positions = Number(option("positions", "128"));
  const passes = Number(option("passes", "40"));
  const backend = await ensureBackend();
  const { model } = await loadBenchModel(name);
  const vocab = model.config.vocabSize;
  const ids = Array.from({ length: positions }, (_, i) => 1 + ((i * 7919) % (vocab - 1)));
  const forward = async () => {
    const out = model.run(ids, { lastPositionOnly: true });
    await out.logits.data();
    out.dispose();
  };
  for (let i = 0; i < 30; i++) await forward(); // V8 compiles its hot paths over the first tens of passes
  // /proc counts CPU time in clock ticks (USER_HZ: 100 a second on common kernels; getconf says).
  const tickMs = 1000 / clockTicksPerSecond();
  const before = threadTicks();
  const faultsBefore = minorFaults();
  let wall = 0;
  for (let i = 0; i < passes; i++) {
    const t0 = performance.now();
    await forward();
    const dt = performance.now() - t0;
    wall += dt;
    await new Promise((resolve) => setTimeout(resolve, dt)); // a pause as long as the pass, as the scaling lines do
  }
  const after = threadTicks();
  const perThread = [...after]
    .map(([thread, t]) => ({ thread, cpu_ms_per_pass: +(((t - (before.get(thread) ?? 0)) * tickMs) / passes).toFixed(1) }))
    .filter((r) => r.cpu_ms_per_pass > 0.5)
    .sort((a, b) => b.cpu_ms_per_pass - a.cpu_ms_per_pass);
  console.log(
    JSON.stringify({
      model: name,
      positions,
      backend,
      threads: process.env.LMPROBE_THREADS ?? "all",
      passes,
      wall_ms_per_pass: +(wall / passes).toFixed(1),
      cpu_ms_per_pass: +perThread.reduce((s, r) => s + r.cpu_ms_per_pass, 0).toFixed(1),
      per_thread: perThread,
      minor_faults_per_pass: +((minorFaults() - faultsBefore) / passes).toFixed(1),
    }),
  );
  model.dispose();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
