#!/usr/bin/env node
// tf.split on the native CPU path against tfjs-backend-cpu's kernel, in the same run: the column split of GPT-2's
// fused c_attn ([768, 2304] → q, k, v, done per layer at load) and of a 128-token activation ([128, 2304]), then
// building GPT-2-small (random weights) on each backend. Prints one JSON line per measurement with the ratio.
//
//   node bench/cpu-split.mjs [--reps 9]
import { createRequire } from "node:module";
import { register } from "tsx/cjs/api";

register();
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const reps = Number(argv[argv.indexOf("--reps") + 1] || 9);
const tf = require("@tensorflow/tfjs-core");
const { setBackend } = require("../src/backend/index.ts");
const { buildModel } = require("../src/model/build.ts");
const { normalizeConfig } = require("../src/io/config.ts");
const { GPT2_SMALL_CONFIG, randomGpt2Weights, idTokenizer } = await import("./probe-gpt2-small.mjs");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeSplit(backend, shape) {
  await setBackend(backend);
  const x = tf.randomNormal(shape);
  const ms = [];
  for (let r = 0; r < reps + 1; r++) {
    const t = performance.now();
    const parts = tf.split(x, 3, 1);
    parts.forEach((p) => p.dataSync());
    ms.push(performance.now() - t);
    tf.dispose(parts);
  }
  x.dispose();
  return median(ms.slice(1));
}

for (const shape of [[768, 2304], [128, 2304]]) {
  const cpu = await timeSplit("cpu", shape);
  const native = await timeSplit("cpu-native", shape);
  console.log(JSON.stringify({ name: `tf.split([${shape}], 3, 1)`, cpu_ms: +cpu.toFixed(2), cpu_native_ms: +native.toFixed(3), speedup: +(cpu / native).toFixed(1), reps }));
}

const build = async (backend) => {
  await setBackend(backend);
  const t = performance.now();
  const model = buildModel({ dir: "gpt2-small (random)", config: normalizeConfig(GPT2_SMALL_CONFIG, "config.json"), weights: randomGpt2Weights(), tokenizer: idTokenizer }, "gpt2");
  const ms = performance.now() - t;
  model.dispose?.();
  return ms;
};
const cpuBuild = await build("cpu");
const nativeBuild = await build("cpu-native");
console.log(JSON.stringify({ name: "buildModel GPT-2-small (random weights, 12 c_attn splits)", cpu_ms: Math.round(cpuBuild), cpu_native_ms: Math.round(nativeBuild), speedup: +(cpuBuild / nativeBuild).toFixed(2) }));
process.exit(0);
