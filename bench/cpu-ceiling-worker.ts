// One process's floating-point throughput on this machine: float32 products of GPT-2-small's MLP shape
// ([128, 768] · [768, 3072]) through the native CPU path (onnxruntime's MLAS) on LMPROBE_THREADS intra-op threads.
// A worker speaking JSON lines, like cpu-bench-worker.ts: it prints {ready} once warm, then for each line
// "run SECONDS" multiplies for that long and prints {gflops}; "quit" ends it. bench/cpu-vs-torch.mjs keeps three alive
// (two on one thread, one on every thread) and times one alone, two at once and the pool, to state what scaling the
// machine's cores give compute-bound work before comparing lmprobe's to it.
import { createInterface } from "node:readline";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../src/backend";

async function main(): Promise<void> {
  await setBackend("cpu-native");
  const [m, k, n] = [128, 768, 3072];
  const a = tf.randomNormal([m, k]);
  const b = tf.randomNormal([k, n]);
  for (let w = 0; w < 20; w++) tf.matMul(a, b).dispose();
  console.log(JSON.stringify({ ready: true, threads: Number(process.env.LMPROBE_THREADS) }));
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === "quit") break;
    if (cmd !== "run") throw new Error(`cpu-ceiling-worker: unknown command "${line}"`);
    const seconds = Number(arg);
    let count = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      tf.matMul(a, b).dispose();
      count++;
    }
    console.log(JSON.stringify({ gflops: (2 * m * k * n * count) / (performance.now() - t0) / 1e6 }));
  }
}

main().then(
  // onnxruntime's thread pool keeps the process alive: exit once the last command is answered.
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
