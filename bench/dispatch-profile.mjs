#!/usr/bin/env node
// Where the CPU time of one webgpu dispatch goes: a chain of small dependent adds on GPU-resident data, issued
// and drained, timed per Dawn call (each GPU* method wrapped with a timer) for several submit batch sizes, with
// lmprobe's lean dispatch path on and off. Prints one JSON document.
//   node --import tsx bench/dispatch-profile.mjs [--src]   (LMPROBE_DAWN_OPTIONS passes Dawn toggles)
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const lmprobe = require(path.join(root, process.argv.includes("--src") ? "src/internal.ts" : "dist/cjs/internal.js"));
const tf = require("@tensorflow/tfjs-core");
await lmprobe.setBackend("webgpu");
const backend = tf.backend();

const timers = {};
function wrap(proto, name, label) {
  const original = proto[name];
  if (typeof original !== "function" || original.lmprobeTimed) return;
  const timed = function (...args) {
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const t = (timers[label] ??= { calls: 0, ms: 0 });
      t.calls++;
      t.ms += performance.now() - t0;
    }
  };
  timed.lmprobeTimed = true;
  proto[name] = timed;
}
const device = backend.device;
const encoder = device.createCommandEncoder();
const pass = encoder.beginComputePass();
pass.end();
encoder.finish();
for (const n of ["createBindGroup", "createBuffer", "createCommandEncoder"]) wrap(Object.getPrototypeOf(device), n, n);
for (const n of ["submit", "writeBuffer"]) wrap(Object.getPrototypeOf(device.queue), n, n);
for (const n of ["beginComputePass", "finish", "copyBufferToBuffer"]) wrap(Object.getPrototypeOf(encoder), n, n);
for (const n of ["setPipeline", "setBindGroup", "dispatchWorkgroups", "end"]) wrap(Object.getPrototypeOf(pass), n, n);

async function drain() {
  backend.endComputePassEncoder();
  if (backend.commandEncoder != null) backend.submitQueue();
  await device.queue.onSubmittedWorkDone();
}

async function chain(n) {
  const x = tf.add(tf.zeros([1024]), 1);
  await x.data();
  let y = tf.add(x, 1);
  for (let i = 1; i < n; i++) {
    const next = tf.add(y, 1);
    y.dispose();
    y = next;
  }
  await y.data();
  tf.dispose([x, y]);
}

const results = [];
const n = 2000;
for (const lean of [true, false]) {
  for (const batch of [15, 64, 512]) {
    lmprobe.setLeanDispatch(lean);
    tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batch);
    await chain(200);
    await drain();
    for (const k of Object.keys(timers)) delete timers[k];
    const t0 = performance.now();
    await chain(n);
    const total = performance.now() - t0;
    const perCall = Object.fromEntries(
      Object.entries(timers).map(([k, v]) => [k, { per_dispatch: +(v.calls / n).toFixed(3), us_per_call: +((v.ms * 1000) / v.calls).toFixed(2) }]),
    );
    const inDawn = Object.values(timers).reduce((s, v) => s + v.ms, 0);
    results.push({ lean, batch, us_per_dispatch: +((total * 1000) / n).toFixed(2), us_in_dawn_calls_per_dispatch: +((inDawn * 1000) / n).toFixed(2), calls: perCall });
    console.error(JSON.stringify(results.at(-1)));
  }
}
console.log(JSON.stringify({ dawn_options: process.env.LMPROBE_DAWN_OPTIONS ?? "", results }, null, 1));
process.exit(0);
