// How much a second thread gains on memory-bound work on this machine, beside compute-bound work: an elementwise
// Add of two float32 arrays through the native CPU path (onnxruntime, as cpu-native runs every elementwise op), at
// sizes from cache-resident to far beyond the caches, and GPT-2-small's MLP product ([128, 768] · [768, 3072]) with
// its weight as a graph input (as lmprobe runs it: MLAS reads and packs it on every call) and as an initializer
// (packed once). Each size runs in its own child processes on 1 and on every thread,
// alternated over rounds, so that the machine's drift reaches both alike. Why: a forward pass at 128 rows reads every
// weight from memory once per call (they are graph inputs, packed per call: bench/results/cpu/perf-gpt2-forward-2-threads.json),
// so the pass's thread scaling is bounded by what the memory gives a second core. Prints one JSON line per case:
// microseconds per call (median of each round), GB/s moved for the Adds, and the speed-up from 1 thread to all.
//   node --require ./bench/native-deps.cjs --import tsx bench/cpu-bandwidth.ts [--rounds 3] [--calls 400]
import { spawnSync } from "node:child_process";
import os from "node:os";
import { median, option } from "./cli.mjs";

const CHILD = "LMPROBE_BANDWIDTH_CHILD";

async function child(): Promise<void> {
  const { runGraph, nativeStatus } = await import("../src/backend/native/runtime");
  const status = nativeStatus();
  if (!status.available) throw new Error(`cpu-native is not available: ${status.reason}`);
  const [kind, sizeText, callsText] = process.env[CHILD]!.split(":");
  const size = Number(sizeText);
  const calls = Number(callsText);
  let run: () => void;
  if (kind === "add") {
    const a = new Float32Array(size).fill(1);
    const b = new Float32Array(size).fill(2);
    const build = () => ({ nodes: [{ op: "Add", inputs: ["a", "b"], outputs: ["y"] }], inputs: [{ name: "a" }, { name: "b" }], outputs: [{ name: "y" }] });
    run = () => void runGraph("bandwidth-add", build, { a: [a, [size]], b: [b, [size]] });
  } else if (kind === "matmul-init") {
    // The same product with the weight baked into the graph as an initializer: onnxruntime packs it once, when the
    // session is created (what lmprobe does not do: it would hold a second copy of every weight).
    const [m, k, n] = [128, 768, 3072];
    const x = new Float32Array(m * k).map((_, i) => Math.sin(i));
    const w = Array.from({ length: k * n }, (_, i) => Math.fround(Math.cos(i)));
    const { ONNX_FLOAT } = await import("../src/backend/native/onnx-graph");
    const build = () => ({
      nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }],
      inputs: [{ name: "x" }],
      outputs: [{ name: "y" }],
      constants: [{ name: "w", type: ONNX_FLOAT, dims: [k, n], values: w }],
    });
    run = () => void runGraph("bandwidth-matmul-init", build, { x: [x, [m, k]] }, m * k * n);
  } else {
    const [m, k, n] = [128, 768, 3072];
    const x = new Float32Array(m * k).map((_, i) => Math.sin(i));
    const w = new Float32Array(k * n).map((_, i) => Math.cos(i));
    const build = () => ({ nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }], inputs: [{ name: "x" }, { name: "w" }], outputs: [{ name: "y" }] });
    run = () => void runGraph("bandwidth-matmul", build, { x: [x, [m, k]], w: [w, [k, n]] }, m * k * n);
  }
  for (let i = 0; i < Math.max(20, calls / 10); i++) run();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) run();
  console.log(JSON.stringify({ us: ((performance.now() - t0) / calls) * 1000 }));
  process.exit(0);
}

function parent(): void {
  const rounds = Number(option("rounds", "3"));
  const calls = Number(option("calls", "400"));
  const all = Number(process.env.LMPROBE_THREADS ?? os.availableParallelism());
  const cases: Array<[string, number]> = [["add", 98_304], ["add", 393_216], ["add", 4_194_304], ["add", 16_777_216], ["matmul", 128 * 768 * 3072], ["matmul-init", 128 * 768 * 3072]];
  for (const [kind, size] of cases) {
    const perThreads: Record<number, number[]> = { 1: [], [all]: [] };
    const n = kind === "add" && size >= 4_194_304 ? Math.max(20, Math.round(calls / 10)) : calls;
    for (let r = 0; r < rounds; r++) {
      for (const threads of [1, all]) {
        const out = spawnSync(process.execPath, [...process.execArgv, process.argv[1]], {
          env: { ...process.env, LMPROBE_THREADS: String(threads), [CHILD]: `${kind}:${size}:${n}` },
          encoding: "utf8",
        });
        const line = out.stdout.split("\n").find((l) => l.startsWith("{"));
        if (!line) throw new Error(`child (${kind} ${size}, ${threads} threads) printed nothing: ${out.stderr.slice(0, 500)}`);
        perThreads[threads].push(JSON.parse(line).us);
      }
    }
    const one = median(perThreads[1]);
    const many = median(perThreads[all]);
    const bytes = kind === "add" ? 3 * 4 * size : null; // two arrays read, one written
    console.log(JSON.stringify({
      case: kind === "add" ? `Add of ${size} floats (${((3 * 4 * size) / 2 ** 20).toFixed(1)} MiB moved)` : `MatMul [128, 768] · [768, 3072], weight ${kind === "matmul" ? "an input (packed per call)" : "an initializer (packed once)"}`,
      threads: all,
      rounds,
      us_1_thread: +one.toFixed(1),
      [`us_${all}_threads`]: +many.toFixed(1),
      ...(bytes ? { gbps_1_thread: +(bytes / one / 1e3).toFixed(2), [`gbps_${all}_threads`]: +(bytes / many / 1e3).toFixed(2) } : {}),
      speedup: +(one / many).toFixed(2),
      rounds_us: perThreads,
    }));
  }
}

if (process.env[CHILD]) void child();
else parent();
