#!/usr/bin/env node
// lmprobe's CPU path against PyTorch on the same machine, in the same invocation (issue: "CPU: every core…").
//
//   npm run bench -- --cpu-vs-torch --json [--cases demo,gpt2-small:128,gpt2-small:512,qwen2.5-1.5b] [--reps 5]
//        [--threads N] [--backend cpu-native] [--python /usr/bin/python3] [--no-malloc-tuning] [--warmup-s 3] [--sample-s 3]
//
// Cases: the demo model at T = 128; a GPT-2-small-shaped model (random weights) at T = 128 and 512; a
// Qwen2.5-1.5B-shaped model (random weights, written once as a sharded BF16 checkpoint and loaded through
// loadModel) at T = 128. Phases: "forward" (one pass, last position's logits) and "probe" (forward keeping every
// residual stream, the logit lens over every layer and position with top-5, entropy and one target, and the flat
// layer-similarity matrix). PyTorch runs bench/torch_cpu_reference.py doing the same the plain way. Both run as
// long-lived workers answering one command at a time, one engine after the other (each alone on the machine; with
// --interleave, both alive and called alternately, except the 1.5B case: two 6 GB processes at once would not fit
// 24 GiB beside other work). Median of at least --reps runs, and of as many as --sample-s (3) seconds hold, after
// warm-ups each: at least --warmup (2) passes, and passes until --warmup-s (3) seconds have gone by (steady times;
// --warmup-s 0 gives the early ones).
// Prints one JSON object per line: per case and phase {name, phase, lmprobe_ms, torch_ms, ratio, threads,
// peak_rss_mb, …}; for GPT-2 T = 128 also a "hardware scaling" line (what one process's thread pool and two
// processes gain on a compute-bound product here), the same case at one thread, and a "scaling" line per phase
// (one thread / all, from lmprobe workers on one thread and on all, alive together and called alternately, each
// timed pass after a pause as long as the pass before: see timePhases).
// --cases hardware prints the hardware line alone.
// Needs Debian's python3-torch and libopenblas0-pthread (it installs nothing).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";
import { ROOT, median, option } from "./cli.mjs";

register();
const require = createRequire(import.meta.url);

const argv = process.argv.slice(2);
const opt = option;
const reps = Number(opt("reps", 5));
const warmup = Number(opt("warmup", 2));
const warmupSeconds = Number(opt("warmup-s", 3));
// Timed passes: at least --reps, and more until --sample-s seconds of them have gone by. The demo's passes take
// ~10 ms, and a median of 7 of them moved the demo probe's ratio between 0.86 and 1.08 across runs; a GPT-2 or
// 1.5B pass takes long enough that --reps decides.
const sampleSeconds = Number(opt("sample-s", 3));
const allThreads = Number(opt("threads", os.availableParallelism()));
const backend = opt("backend", "cpu-native");
const python = opt("python", fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
// Alternate the two engines' calls (both processes alive) only when asked: on few cores, each engine's thread pool
// spins for a while after a call and takes the other's core (measured on 2 cores: PyTorch's demo forward 10 → 160 ms
// beside an idle lmprobe worker), so by default each engine runs alone, one after the other, in this invocation.
const interleave = process.argv.includes("--interleave");
const cases = opt("cases", "demo,gpt2-small:128,gpt2-small:512,qwen2.5-1.5b").split(",");
const cpuModel = (fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? os.cpus()[0]?.model;

/** A worker process speaking one JSON line per command. */
function worker(command, args, env) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  let quitting = false;
  lines.on("line", (line) => {
    if (!line.startsWith("{")) return;
    const w = waiting.shift();
    if (w) w.resolve(JSON.parse(line));
  });
  child.on("exit", (code) => {
    if (quitting) return;
    console.error(`bench: ${command} ${args.join(" ")} exited with ${code}`);
    process.exit(1);
  });
  const next = () => new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  const ready = next();
  return {
    ready,
    pid: child.pid,
    ask: (cmd) => {
      const answer = next();
      child.stdin.write(cmd + "\n");
      return answer;
    },
    quit: () => new Promise((resolve) => {
      quitting = true;
      child.once("exit", resolve);
      child.stdin.write("quit\n");
    }),
  };
}

function parseCase(spec) {
  const [model, t] = spec.split(":");
  return { model, positions: Number(t ?? 128), name: `${model} T=${t ?? 128}` };
}

// The lmprobe worker starts with the malloc settings that the `lmprobe` command and the Jupyter kernel give their
// process (src/backend/native/malloc-tuning.ts); --no-malloc-tuning starts it without (bench/cpu-malloc.mjs
// measures both in one run).
const mallocTuning = !argv.includes("--no-malloc-tuning");
const { MALLOC_TUNABLES } = require("../src/backend/native/malloc-tuning.ts");

function lmprobeEnv(threads) {
  const env = { ...process.env, LMPROBE_THREADS: String(threads), LMPROBE_BACKEND: backend };
  delete env.GLIBC_TUNABLES;
  if (mallocTuning && process.platform === "linux") env.GLIBC_TUNABLES = MALLOC_TUNABLES;
  return env;
}

// Arquero loaded by Node itself, as in the built package, not through tsx's transform (bench/native-deps.cjs).
const NATIVE_DEPS = ["--require", path.join(ROOT, "bench/native-deps.cjs")];

function lmprobeWorker(c, threads) {
  return worker(process.execPath, [...NATIVE_DEPS, "--import", "tsx", path.join(ROOT, "bench/cpu-bench-worker.ts"), c.model, String(c.positions)], lmprobeEnv(threads));
}

function torchWorker(c, threads) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  // This machine's environment pins OpenBLAS's core type and L2 size; the reference runs with its own detection.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return worker(python, [path.join(ROOT, "bench/torch_cpu_reference.py"), "--case", c.model, "--positions", String(c.positions), "--threads", String(threads)], env);
}

/** CPU time (user + system, ms) a process has used so far, from /proc (0 where there is none). */
function cpuMs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return 0;
  }
}

/**
 * Time the hypervisor ran something else on this machine's virtual CPUs (ms, summed over them: /proc/stat's steal
 * column), so far; null where there is no /proc/stat. On a shared VM a pass whose second thread's vCPU was taken away
 * scales less for a reason that is not lmprobe's.
 */
function stealMs() {
  try {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    return (Number(fields[8]) * 1000) / 100; // "cpu user nice system idle iowait irq softirq steal …", USER_HZ ticks
  } catch {
    return null;
  }
}

/**
 * Timed passes of each worker, interleaved or one worker after the other. `settle`: before each timed pass, a pause
 * as long as the pass before it (at most 1 s), and the CPU time the other workers used during each timed pass is
 * summed in `othersCpuMs`. Why: a worker keeps a core busy for a while after its pass (V8's heap work after a pass
 * that allocated hundreds of MB), and in pass-by-pass alternation that landed on the next worker's pass: on 2 cores
 * the idle one-thread worker used 870 ms of CPU during 40 two-thread passes of GPT-2 T = 128 (~22 ms a pass; a
 * scratch measurement), where with the pause it used 0–20 ms in all (bench/results/cpu/cpu-vs-torch-gpt2-scaling-settled.jsonl).
 * The steal time during each worker's timed passes of each phase is summed in `stealMs` (stealMs()).
 */
async function timePhases(workers, interleave, settle = false) {
  const times = workers.map(() => ({ forward: [], probe: [], othersCpuMs: 0, stealMs: { forward: 0, probe: 0 } }));
  let last = 0;
  const one = async (w, i, phase) => {
    if (settle) await new Promise((r) => setTimeout(r, Math.min(1000, last)));
    const others = settle ? workers.filter((x) => x !== w).map((x) => [x.pid, cpuMs(x.pid)]) : [];
    const stealBefore = stealMs();
    const ms = (await w.ask(phase)).ms;
    if (stealBefore !== null) times[i].stealMs[phase] += stealMs() - stealBefore;
    for (const [pid, before] of others) times[i].othersCpuMs += cpuMs(pid) - before;
    times[i][phase].push(ms);
    last = ms;
  };
  const order = interleave ? [workers.map((w, i) => [w, i])] : workers.map((w, i) => [[w, i]]);
  for (const group of order) {
    for (const phase of ["forward", "probe"]) {
      // Warm-up: at least --warmup passes, and passes until --warmup-s seconds have gone by (V8 compiles a fresh
      // process's hot paths over its first tens of passes: bench/run.mjs's rule, the same for both engines).
      const start = performance.now();
      for (let r = 0; r < warmup || performance.now() - start < warmupSeconds * 1000; r++) for (const [w] of group) await w.ask(phase);
      const sampling = performance.now();
      for (let r = 0; r < reps || performance.now() - sampling < sampleSeconds * 1000 * group.length; r++) for (const [w, i] of group) await one(w, i, phase);
    }
  }
  return times;
}

async function runCase(c, threads) {
  const big = c.model === "qwen2.5-1.5b";
  const result = { forward: {}, probe: {} };
  const info = {};
  const run = async (entries) => {
    const ws = entries.map(([label, make]) => ({ label, w: make(c, threads) }));
    for (const { label, w } of ws) info[label] = await w.ready;
    const times = await timePhases(ws.map((x) => x.w), true);
    for (const [i, { label, w }] of ws.entries()) {
      for (const phase of ["forward", "probe"]) result[phase][label] = { ms: median(times[i][phase]), all: times[i][phase].map((x) => +x.toFixed(1)) };
      info[label].peak_rss_mb = (await w.ask("rss")).peak_rss_mb;
      await w.quit();
    }
  };
  const makers = [["lmprobe", lmprobeWorker], ["torch", torchWorker]];
  if (big || !interleave) for (const m of makers) await run([m]);
  else await run(makers);
  const lines = ["forward", "probe"].map((phase) => ({
    name: c.name,
    phase,
    lmprobe_ms: +result[phase].lmprobe.ms.toFixed(1),
    torch_ms: +result[phase].torch.ms.toFixed(1),
    ratio: +(result[phase].lmprobe.ms / result[phase].torch.ms).toFixed(3),
    // Fastest run of each: on a shared VM an engine's times can be bimodal (PyTorch's demo probe: 13 ms in some
    // runs, 131–195 ms in others), which the medians' ratio hides; this ratio compares both at their best.
    ratio_fastest: +(Math.min(...result[phase].lmprobe.all) / Math.min(...result[phase].torch.all)).toFixed(3),
    threads,
    peak_rss_mb: Math.round(info.lmprobe.peak_rss_mb),
    torch_peak_rss_mb: Math.round(info.torch.peak_rss_mb),
    ...(info.lmprobe.float32_weights_mb ? { float32_weights_mb: Math.round(info.lmprobe.float32_weights_mb), rss_over_weights: +(info.lmprobe.peak_rss_mb / info.lmprobe.float32_weights_mb).toFixed(3) } : {}),
    backend: info.lmprobe.backend,
    malloc_tuning: mallocTuning && process.platform === "linux",
    interleaved: !big && interleave,
    reps,
    samples: result[phase].lmprobe.all.length,
    torch_samples: result[phase].torch.all.length,
    sample_s: sampleSeconds,
    warmup_s: warmupSeconds,
    lmprobe_all_ms: result[phase].lmprobe.all,
    torch_all_ms: result[phase].torch.all,
    torch_blas: info.torch.blas,
    cpu: cpuModel,
    cores: os.availableParallelism(),
  }));
  for (const line of lines) console.log(JSON.stringify(line));
  return lines;
}

/**
 * What scaling this machine gives compute-bound work: GPT-2's MLP product on one thread alone, on one thread in two
 * processes at once (their summed throughput: what two cores deliver when both are busy, clocks and neighbours
 * included) and on every thread in one process (onnxruntime's pool), alternated `rounds` times so that drift on a
 * shared machine reaches all three alike. Medians of each.
 */
async function hardwareScaling(rounds = 5, seconds = 1) {
  // With the lmprobe worker's malloc settings: without them each product's fresh 1.5 MB output is faulted in page by
  // page on one thread, which hid the pool's gain (0.81–1.04× in runs where lmprobe's own products gained ~2×).
  const make = (threads) => worker(process.execPath, [...NATIVE_DEPS, "--import", "tsx", path.join(ROOT, "bench/cpu-ceiling-worker.ts")], lmprobeEnv(threads));
  const [a, b, pool] = [make(1), make(1), make(allThreads)];
  await Promise.all([a.ready, b.ready, pool.ready]);
  const alone = [], pair = [], all = [];
  for (let r = 0; r < rounds; r++) {
    alone.push((await a.ask(`run ${seconds}`)).gflops);
    const both = await Promise.all([a.ask(`run ${seconds}`), b.ask(`run ${seconds}`)]);
    pair.push(both[0].gflops + both[1].gflops);
    all.push((await pool.ask(`run ${seconds}`)).gflops);
  }
  await Promise.all([a.quit(), b.quit(), pool.quit()]);
  const line = {
    name: "hardware: GPT-2 MLP product [128,768]·[768,3072]",
    phase: "hardware scaling",
    threads: `1 vs ${allThreads}`,
    one_thread_gflops: +median(alone).toFixed(1),
    two_processes_gflops: +median(pair).toFixed(1),
    pool_gflops: +median(all).toFixed(1),
    // Only two processes' worth: with more cores, the pool's own speed-up is the line to read.
    cores_speedup: +(median(pair) / median(alone)).toFixed(2),
    pool_speedup: +(median(all) / median(alone)).toFixed(2),
    rounds,
    one_thread_all: alone.map((x) => +x.toFixed(1)),
    two_processes_all: pair.map((x) => +x.toFixed(1)),
    pool_all: all.map((x) => +x.toFixed(1)),
    cpu: cpuModel,
    cores: os.availableParallelism(),
  };
  console.log(JSON.stringify(line));
  return line;
}

/**
 * lmprobe on one thread and on every thread, both workers alive and called alternately, each timed pass after a
 * settling pause (timePhases); median ms per phase, and the CPU time the idle worker used during the other's passes.
 */
async function lmprobeScaling(c) {
  const ws = [lmprobeWorker(c, 1), lmprobeWorker(c, allThreads)];
  await Promise.all(ws.map((w) => w.ready));
  const times = await timePhases(ws, true, true);
  await Promise.all(ws.map((w) => w.quit()));
  const scaling = Object.fromEntries(["forward", "probe"].map((phase) => [phase, { one: median(times[0][phase]), all: median(times[1][phase]) }]));
  const stealPerPass = (t, phase) => t.stealMs[phase] / t[phase].length;
  const steal = Object.fromEntries(["forward", "probe"].map((phase) => [phase, { one: stealPerPass(times[0], phase), all: stealPerPass(times[1], phase) }]));
  return { ...scaling, steal, idleCpuMs: { duringOne: times[0].othersCpuMs, duringAll: times[1].othersCpuMs } };
}

for (const spec of cases) {
  if (spec === "hardware") {
    await hardwareScaling(); // alone: --cases hardware
    continue;
  }
  const c = parseCase(spec);
  const all = await runCase(c, allThreads);
  if (c.model === "gpt2-small" && c.positions === 128 && allThreads > 1) {
    const hardware = await hardwareScaling();
    const one = await runCase(c, 1);
    const alternated = await lmprobeScaling(c);
    for (const [i, phase] of ["forward", "probe"].entries()) {
      console.log(JSON.stringify({
        name: c.name,
        phase: `${phase} scaling`,
        threads: `1 vs ${allThreads}`,
        // Both lmprobe workers alive and called in turn, so that the machine's drift between runs minutes apart
        // (±20% on this kind of VM) does not enter the ratio.
        lmprobe_speedup: +(alternated[phase].one / alternated[phase].all).toFixed(2),
        lmprobe_one_thread_ms: +alternated[phase].one.toFixed(1),
        lmprobe_all_threads_ms: +alternated[phase].all.toFixed(1),
        // Each timed pass after a pause as long as the pass before (timePhases' settle); the CPU time the idle
        // worker used during the other's timed passes (both phases), which that pause keeps near 0.
        settled: true,
        idle_worker_cpu_ms_during_one_thread_passes: +alternated.idleCpuMs.duringOne.toFixed(0),
        idle_worker_cpu_ms_during_all_thread_passes: +alternated.idleCpuMs.duringAll.toFixed(0),
        // CPU time the hypervisor gave to others during the timed passes (all vCPUs, mean per pass; /proc/stat's
        // steal, in 10 ms ticks): where the all-threads passes lose more than the one-thread ones, part of the
        // shortfall from 2× is the VM's.
        steal_ms_per_one_thread_pass: +alternated.steal[phase].one.toFixed(1),
        steal_ms_per_all_threads_pass: +alternated.steal[phase].all.toFixed(1),
        // The same from the separate runs above (one thread minutes after all threads).
        lmprobe_speedup_separate_runs: +(one[i].lmprobe_ms / all[i].lmprobe_ms).toFixed(2),
        torch_speedup: +(one[i].torch_ms / all[i].torch_ms).toFixed(2),
        // What onnxruntime's pool gains on a compute-bound product in the same invocation: the ceiling for matmuls.
        hardware_pool_speedup: hardware.pool_speedup,
      }));
    }
  }
}
