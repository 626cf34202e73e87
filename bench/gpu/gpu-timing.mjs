// Shared by the webgpu product benchmarks (packed-matmul.mjs, matrix-units.mjs): GPU time of a dispatch with the
// queue drained around it, and deterministic bf16 weights.
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const tf = require("@tensorflow/tfjs-core");

/** Ends the open pass, submits what was recorded and waits for the GPU to finish it. */
export async function drain() {
  const backend = tf.backend();
  backend.endComputePassEncoder();
  if (backend.commandEncoder != null) backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/**
 * Median wall ms of fn() over `reps` samples after 3 warm-ups, the queue drained before and after each: the GPU's
 * time. With `inner` > 1 each sample runs fn() that many times back to back in one submission and reports the time
 * per call: a product of ~0.1 ms is then timed as a forward pass runs it, not with a queue round trip (tens of µs)
 * on top.
 */
export async function gpuTime(fn, reps, inner = 1) {
  const times = [];
  for (let i = 0; i < reps + 3; i++) {
    await drain();
    const t0 = performance.now();
    const outs = [];
    for (let j = 0; j < inner; j++) outs.push(fn());
    await drain();
    const dt = (performance.now() - t0) / inner;
    tf.dispose(outs);
    if (i >= 3) times.push(dt);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Cheap pseudo-random bf16 patterns in ±[2^-8, 2): a hash of the index into sign, exponent 119..127 and mantissa. */
export function bf16Bits(n, seed) {
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const h = Math.imul(i + seed, 2654435761) >>> 0;
    bits[i] = ((h >>> 31) << 15) | ((119 + ((h >>> 20) % 9)) << 7) | (h & 0x7f);
  }
  return bits;
}
