#!/usr/bin/env node
// lmprobe's benchmark harness: forward and probe times per model and sequence length, as one JSON document.
// The probe is ../shared/perf/torch-gpu-baseline.json's definition: the forward pass with every hidden state,
// the logit lens over every layer and position (final norm, unembedding, log-softmax statistics: top-5 and
// entropy) and the flat layer-similarity matrix, with every result copied back to the host.
//
//   npm run build && node bench/run.mjs [--models demo,gpt2-small,qwen2.5-0.5b,llama3.1-8b] [--seq 128,1024] [--reps 10]
//        [--checkpoints bench/out/models] [--backend webgpu] [--torch torch.json] [--kernels] [--ablation] [--kernel-times]
//        [--cache-resid 1024] [--warmup-s 3] [--out bench/out/bench.json] [--src] [--alternate VAR=a,b [--rounds 5]]
//   node bench/run.mjs --cpu-vs-torch --json [...]   the CPU path against PyTorch (see bench/cpu-vs-torch.mjs)
//
// gpt2-small and qwen2.5-0.5b are randomly initialised checkpoints of the real shapes, written by
// `python3 bench/torch_baseline.py --save <checkpoints>` so that PyTorch and lmprobe time the same weights;
// llama3.1-8b (and llama3.1-8b-tiny, its structure at a CPU size) by bench/gpu/write_llama_checkpoint.py. With
// --torch, each case gets PyTorch's float32 and bf16 times of the same run and the ratios to both (and to
// from_pretrained's load time where PyTorch timed one). LMPROBE_PACKED_WEIGHTS is recorded as given (packed_weights).
// load_peak_rss_bytes is the process's peak RSS (VmHWM) right after the load: the load's own peak for the first
// model of a run. --cache-resid T: at length T, one pass caching every layer's resid_post, with tf.memory() while the
// cache is held (the backend's GPU buffer bytes, pool included, where it reports them). weights_by_kind counts the
// loaded weights as float tensors and packed 16-bit weights (PackedWeight), so a run shows whether packing took effect;
// memory_after_load is tf.memory() right after the load (tfjs-webgpu uploads a tensor at its first use, so its GPU
// bytes may still read 0 there).
// --alternate VAR=a,b: after the usual timing, the forward and the probe again with the environment variable VAR
// set to each value in turn, `--rounds` rounds of `--reps` passes each, in this one process (a policy read at each
// call, such as LMPROBE_MATRIX_UNIT_SPLITK): separate processes on the GPU machine differed by up to 50% on the
// same code, so an A/B between processes says little. Per value: the median of its round medians (`alternate`).
import { createRequire } from "node:module";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

const require = createRequire(import.meta.url);
// --cpu-vs-torch: the CPU path against PyTorch on this machine (bench/cpu-vs-torch.mjs; runs the sources).
if (process.argv.includes("--cpu-vs-torch")) {
  await import("./cpu-vs-torch.mjs");
  process.exit(0);
}
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
// --src runs the TypeScript sources instead of dist/ (start node with --import tsx).
const fromSource = process.argv.includes("--src");
// The internal entry: the benchmark drives kernels and dispatch switches that the public API does not export.
const entry = path.join(root, fromSource ? "src/internal.ts" : "dist/cjs/internal.js");
if (!existsSync(entry)) {
  console.error("bench: dist/ is missing; run `npm run build` first (or node --import tsx bench/run.mjs --src)");
  process.exit(2);
}
const lmprobe = require(entry);
const tf = require("@tensorflow/tfjs-core");

function parseArgs(argv) {
  const out = { models: "demo,gpt2-small,qwen2.5-0.5b", seq: "128,1024", reps: "10", checkpoints: path.join(root, "bench/out/models") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`bench: unexpected argument ${a}`);
    const key = a.slice(2);
    if (key === "kernels" || key === "src" || key === "ablation" || key === "kernel-times") out[key] = true;
    else if (i + 1 >= argv.length) throw new Error(`bench: ${a} needs a value`);
    else out[key] = argv[++i];
  }
  return out;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// --warmup-s: seconds of passes before the steady reps (see timeIt).
let warmupSeconds = 3;

async function repsMs(fn, reps) {
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times;
}

/**
 * Early and steady times: the median of `reps` passes after `warmup` warm-ups (early), then of `reps` passes again
 * once warm-up passes have filled `warmupS` seconds in all (steady; median, min, max). A fresh process takes tens
 * of passes to reach its steady time on the GPU (V8 compiles the engine's hot paths by stages: GPT-2-small's
 * forward at T = 128 on an H100 took 18 ms at passes 2-5 and 6.8 ms from pass 41 on,
 * bench/results/gpu-h100/warmup/warmup.jsonl); bench/torch_baseline.py times PyTorch by the same rule.
 */
async function timeIt(fn, reps, warmupS = warmupSeconds, warmup = 2) {
  const start = performance.now();
  for (let i = 0; i < warmup; i++) await fn();
  const early = median(await repsMs(fn, reps));
  while (performance.now() - start < warmupS * 1000) await fn();
  const times = await repsMs(fn, reps);
  return { median: median(times), min: Math.min(...times), max: Math.max(...times), early };
}

/** --alternate: per phase, rounds in which each value of the variable gets `reps` passes (after two warm-ups), in turn. */
async function alternate(spec, rounds, reps, phases) {
  const eq = spec.indexOf("=");
  const name = spec.slice(0, eq);
  const values = spec.slice(eq + 1).split(",");
  if (eq < 1 || values.length < 2) throw new Error(`--alternate: "${spec}" is not VAR=a,b`);
  const saved = process.env[name];
  const out = { variable: name, values, rounds };
  try {
    for (const [phase, fn] of phases) {
      const perValue = Object.fromEntries(values.map((v) => [v, []]));
      for (let r = 0; r < rounds; r++) {
        for (const v of r % 2 ? [...values].reverse() : values) {
          process.env[name] = v;
          await fn();
          await fn();
          perValue[v].push(median(await repsMs(fn, reps)));
        }
      }
      for (const v of values) {
        out[`${phase}_ms_${v}`] = +median(perValue[v]).toFixed(3);
        out[`${phase}_rounds_ms_${v}`] = perValue[v].map((t) => +t.toFixed(3));
      }
      out[`${phase}_${values[0]}_over_${values[1]}`] = +(out[`${phase}_ms_${values[0]}`] / out[`${phase}_ms_${values[1]}`]).toFixed(3);
    }
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
  return out;
}

/** Deterministic token ids in [0, vocab). */
function tokenIds(T, vocab, seed) {
  let s = seed >>> 0;
  return Array.from({ length: T }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s % vocab));
}

/** One forward pass; the last position's logits copied to the host. */
async function forward(model, ids) {
  const r = model.run([ids]);
  const last = tf.slice(r.logits, [0, ids.length - 1, 0], [1, 1, -1]);
  r.dispose();
  await last.data();
  last.dispose();
}

/** Lens statistics of rows [n, d] already final-normed: top-5 log-probs, ids and entropy, on the device. */
function lensStats(model, rows, k) {
  const logits = tf.tidy(() => tf.reshape(model.unembed(rows), [rows.shape[0], -1]));
  const fused = lmprobe.logitStats(logits, k);
  if (fused) {
    logits.dispose();
    const topLogprobs = tf.tidy(() => tf.sub(fused.topLogits, tf.expandDims(fused.logSumExp, 1)));
    tf.dispose([fused.topLogits, fused.logSumExp]);
    return [topLogprobs, fused.topIds, fused.entropy];
  }
  // Backends without the fused kernel: the same statistics from tfjs ops.
  const out = tf.tidy(() => {
    const logprobs = lmprobe.logSoftmax(logits);
    const top = tf.topk(logprobs, k, true);
    const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logprobs), logprobs), -1));
    return [top.values, top.indices, entropy];
  });
  logits.dispose();
  return out;
}

/** The probe: every hidden state, the lens over all layers and positions, the flat layer similarity. */
async function probe(model, ids, rowsPerChunk, k = 5) {
  const isResid = (name) => name === "blocks.0.hook_resid_pre" || /^blocks\.\d+\.hook_resid_post$/.test(name);
  const r = model.run([ids], { cache: isResid });
  const stack = r.cache.accumulatedResid(); // [L+1, 1, T, d]
  r.dispose();
  const [layers, , T, d] = stack.shape;
  const normed = tf.tidy(() => tf.reshape(model.applyFinalNorm(stack), [layers * T, d]));
  const pending = [];
  for (let start = 0; start < layers * T; start += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, layers * T - start);
    const rows = tf.slice(normed, [start, 0], [n, d]);
    const stats = lensStats(model, rows, k);
    rows.dispose();
    pending.push(...stats);
  }
  normed.dispose();
  const sim = tf.tidy(() => lmprobe.cosineSimilarityMatrix(tf.reshape(stack, [layers, T * d])));
  stack.dispose();
  pending.push(sim);
  // Results on the host: every statistic is read back before the probe counts as done.
  await Promise.all(pending.map((t) => t.data()));
  tf.dispose(pending);
}

/**
 * GPU time per kernel over one run of fn (tfjs-webgpu's timestamp queries; each dispatch then runs alone, so the sum
 * exceeds an unprofiled run's time): summed per kernel name (`top`) and per name and shapes (`by_shape`, which tells
 * one product from another).
 */
async function kernelTimes(fn) {
  const info = await tf.profile(fn);
  const byName = {};
  const byShape = {};
  let gpuMs = 0;
  const add = (table, key, ms) => {
    const e = (table[key] ??= { count: 0, gpu_ms: 0 });
    e.count++;
    e.gpu_ms += ms;
  };
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : (await k.kernelTimeMs) ?? 0;
    add(byName, k.name, ms);
    add(byShape, `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`, ms);
    gpuMs += ms;
  }
  const ranked = (table, n) => Object.entries(table).sort((a, b) => b[1].gpu_ms - a[1].gpu_ms).slice(0, n)
    .map(([name, e]) => ({ name, count: e.count, gpu_ms: +e.gpu_ms.toFixed(3) }));
  return { kernels: info.kernels.length, gpu_ms: +gpuMs.toFixed(3), top: ranked(byName, 15), by_shape: ranked(byShape, 25) };
}

/** Peak resident set of this process so far (VmHWM), in bytes. */
function peakRssBytes() {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return line ? Number(line.replace(/\D+/g, "")) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** The model's weights by kind: float tensors and packed 16-bit weights (a PackedWeight, where the backend keeps them), with bytes. */
function weightKinds(weights) {
  const out = { tensors: 0, tensor_bytes: 0, packed: 0, packed_bytes: 0 };
  const seen = new Set();
  const walk = (v, depth) => {
    if (!v || typeof v !== "object" || ArrayBuffer.isView(v) || seen.has(v) || depth > 6) return;
    seen.add(v);
    if (v instanceof tf.Tensor) {
      out.tensors++;
      out.tensor_bytes += v.size * 4;
    } else if (v.constructor?.name === "PackedWeight") {
      out.packed++;
      if (v.words instanceof tf.Tensor && v.ownsWords !== false) out.packed_bytes += v.words.size * 4;
    } else {
      for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x, depth + 1);
    }
  };
  walk(weights, 0);
  return out;
}

/** One pass caching resid_post at every layer; what the backend holds while the cache lives. */
async function cacheAllResid(model, ids) {
  const before = tf.memory();
  const r = model.run([ids], { cache: (name) => /^blocks\.\d+\.hook_resid_post$/.test(name) });
  const last = tf.slice(r.logits, [0, ids.length - 1, 0], [1, 1, 1]);
  await last.data(); // the pass has run on the device
  last.dispose();
  const held = tf.memory();
  const names = r.cache.names();
  r.dispose();
  const pick = (m) => Object.fromEntries(Object.entries(m).filter(([, v]) => typeof v === "number" || typeof v === "boolean"));
  return { T: ids.length, cached_hooks: names.length, memory_before: pick(before), memory_with_cache: pick(held), memory_after: pick(tf.memory()) };
}

/** PyTorch's results (bench/torch_baseline.py's list); a missing or broken file is said, and the cases run without ratios. */
function readTorch(file) {
  if (!file) return [];
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    console.error(`bench: no PyTorch baseline from ${file} (${err.message}); no ratios`);
    return [];
  }
}

/** PyTorch's times of the same case and the ratios to them: float32 (the target) and bf16. */
function torchRatios(torch, name, T, f, p, loadMs) {
  const out = {};
  for (const [dtype, suffix] of [["torch.float32", ""], ["torch.bfloat16", "_bf16"]]) {
    const ref = torch.find((r) => r.model === name && r.T === T && r.dtype === dtype);
    if (!ref) continue;
    Object.assign(out, {
      [`torch${suffix}_forward_ms`]: ref.forward, [`torch${suffix}_probe_ms`]: ref.probe,
      [`forward_ratio${suffix}`]: +(f.median / ref.forward).toFixed(2), [`probe_ratio${suffix}`]: +(p.median / ref.probe).toFixed(2),
    });
    // Early passes against early passes, where the PyTorch run timed them (see timeIt).
    if (ref.forward_early) {
      Object.assign(out, {
        [`torch${suffix}_forward_early_ms`]: ref.forward_early, [`torch${suffix}_probe_early_ms`]: ref.probe_early,
        [`forward_early_ratio${suffix}`]: +(f.early / ref.forward_early).toFixed(2), [`probe_early_ratio${suffix}`]: +(p.early / ref.probe_early).toFixed(2),
      });
    }
    if (suffix === "") out.torch_gpu = ref.gpu;
    if (ref.load_ms) Object.assign(out, { [`torch${suffix}_load_ms`]: ref.load_ms, [`load_ratio${suffix}`]: +(loadMs / ref.load_ms).toFixed(2) });
    if (ref.probe_peak_gpu_bytes) out[`torch${suffix}_probe_peak_gpu_bytes`] = ref.probe_peak_gpu_bytes;
  }
  return out;
}

function checkpointDir(name, opts) {
  if (name === "demo") return "demo";
  const dir = path.join(opts.checkpoints, name);
  if (!existsSync(path.join(dir, "config.json"))) {
    const writer = name.startsWith("llama3.1-8b")
      ? `python3 bench/gpu/write_llama_checkpoint.py --out ${dir}${name.endsWith("-tiny") ? " --shape tiny" : ""}`
      : `python3 bench/torch_baseline.py --save ${opts.checkpoints}`;
    throw new Error(`bench: no checkpoint at ${dir}; write it with \`${writer}\``);
  }
  return dir;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  warmupSeconds = Number(opts["warmup-s"] ?? 3);
  const backend = opts.backend ? await lmprobe.setBackend(opts.backend) : await lmprobe.ensureBackend();
  const report = lmprobe.backendReport();
  const chosen = report?.candidates.find((c) => c.status === "chosen");
  const doc = {
    backend,
    device: chosen?.detail?.adapter ?? chosen?.reason ?? backend,
    node: process.version,
    tfjs: tf.version_core,
    matmul: process.env.LMPROBE_WEBGPU_MATMUL === "tfjs" ? "tfjs" : "lmprobe",
    packed_weights: process.env.LMPROBE_PACKED_WEIGHTS ?? null,
    date: new Date().toISOString(),
    results: [],
  };
  const torch = readTorch(opts.torch);
  const cacheAt = opts["cache-resid"] ? opts["cache-resid"].split(",").map(Number) : [];
  for (const name of opts.models.split(",").filter(Boolean)) {
    try {
      await benchModel(name, opts, doc, torch, cacheAt);
    } catch (err) {
      // One case that cannot run (does not fit, say) is reported and the others still run.
      doc.results.push({ model: name, error: String(err?.message ?? err).slice(0, 2000) });
      console.error(JSON.stringify(doc.results.at(-1)));
    }
  }
  if (opts.kernels) doc.kernels = await (await import("./gpu-kernels.mjs")).benchKernels(lmprobe, tf);
  if (backend === "webgpu") {
    // Which products ran on the GPU's matrix units in this run (LMPROBE_MATRIX_UNITS; none where the adapter has none).
    const units = require(path.join(root, fromSource ? "src/backend/kernels/matrix-units.ts" : "dist/cjs/backend/kernels/matrix-units.js"));
    doc.matrix_units = { mode: process.env.LMPROBE_MATRIX_UNITS ?? "auto", shape: units.matrixUnits.shape,
      reason: units.matrixUnits.reason, products: units.matrixUnitUse.products, joint_products: units.matrixUnitUse.joint };
  }
  const text = JSON.stringify(doc, null, 1);
  if (opts.out) {
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, text);
  }
  console.log(text);
  if (doc.results.some((r) => r.error)) process.exitCode = 1;
}

/**
 * webgpu: where the load's slice uploads spent their time (packed-upload.ts's stats: seconds in all, waiting for disk
 * reads and for the device, bytes written), so that a load slower than the disk can be read from its parts.
 */
function lastUploadStats(backend) {
  if (backend !== "webgpu") return null;
  return require(path.join(root, fromSource ? "src/backend/packed-upload.ts" : "dist/cjs/backend/packed-upload.js")).lastUploadStats();
}

async function benchModel(name, opts, doc, torch, cacheAt) {
  const reps = Number(opts.reps);
  const backend = doc.backend;
  const rssBefore = peakRssBytes();
  // The uploader keeps its last load's stats: a model that uploads nothing in slices must not report the one before.
  const uploadsBefore = lastUploadStats(backend);
  const t0 = performance.now();
  const model = await lmprobe.loadModel(checkpointDir(name, opts));
  const loadMs = performance.now() - t0;
  const loadPeakRss = peakRssBytes();
  const pick = (m) => Object.fromEntries(Object.entries(m).filter(([, v]) => typeof v === "number"));
  const loaded = { memory_after_load: pick(tf.memory()), weights_by_kind: weightKinds(model.weights) };
  const uploads = lastUploadStats(backend);
  if (uploads && uploads !== uploadsBefore) loaded.load_upload = uploads;
  try {
    const vocab = model.config.vocabSize;
    const maxPos = model.config.maxPositions;
    for (const T of opts.seq.split(",").map(Number)) {
      if (T > maxPos) {
        doc.results.push({ model: name, T, skipped: `T exceeds the model's context (${maxPos})` });
        continue;
      }
      const ids = tokenIds(T, vocab, T);
      // Lens chunks of about 2^27 logits (512 MiB) keep the [rows, vocab] block well inside one GPU buffer.
      const rowsPerChunk = Math.max(1, Math.min(T * (model.nLayers + 1), Math.floor(2 ** 27 / vocab)));
      const before = tf.memory().numTensors;
      const f = await timeIt(() => forward(model, ids), reps);
      const p = await timeIt(() => probe(model, ids, rowsPerChunk), reps);
      // --ablation: the forward pass again without lmprobe's webgpu dispatch path and fused kernels, to show what each buys.
      const ablation = {};
      if (opts.ablation && backend === "webgpu") {
        for (const [label, lean, fused] of [["forward_ms_unfused", true, false], ["forward_ms_tfjs_dispatch_unfused", false, false]]) {
          lmprobe.setLeanDispatch(lean);
          process.env.LMPROBE_WEBGPU_FUSED = fused ? "on" : "off";
          ablation[label] = +(await timeIt(() => forward(model, ids), reps)).median.toFixed(3);
        }
        lmprobe.setLeanDispatch(true);
        delete process.env.LMPROBE_WEBGPU_FUSED;
      }
      // --kernel-times: one forward and one probe under tf.profile (GPU timestamps per dispatch), summed per kernel.
      let profiled;
      if (opts["kernel-times"] && backend === "webgpu") {
        profiled = {
          forward_kernel_times: await kernelTimes(() => forward(model, ids)),
          probe_kernel_times: await kernelTimes(() => probe(model, ids, rowsPerChunk)),
        };
      }
      const alternated = opts.alternate ? { alternate: await alternate(opts.alternate, Number(opts.rounds ?? 5), reps, [["forward", () => forward(model, ids)], ["probe", () => probe(model, ids, rowsPerChunk)]]) } : {};
      const cached = cacheAt.includes(T) ? { cache_all_resid_post: await cacheAllResid(model, ids) } : {};
      const leaked = tf.memory().numTensors - before;
      doc.results.push({
        model: name, T, vocab, layers: model.nLayers, load_ms: +loadMs.toFixed(1),
        load_peak_rss_bytes: loadPeakRss, peak_rss_before_load_bytes: rssBefore, ...loaded,
        forward_ms: +f.median.toFixed(3), probe_ms: +p.median.toFixed(3),
        forward_early_ms: +f.early.toFixed(3), probe_early_ms: +p.early.toFixed(3), warmup_s: warmupSeconds,
        forward_range_ms: [+f.min.toFixed(2), +f.max.toFixed(2)], probe_range_ms: [+p.min.toFixed(2), +p.max.toFixed(2)],
        lens_rows_per_chunk: rowsPerChunk, leaked_tensors: leaked, ...ablation, ...profiled, ...alternated,
        ...cached, ...torchRatios(torch, name, T, f, p, loadMs),
      });
      console.error(JSON.stringify(doc.results.at(-1)));
    }
  } finally {
    model.dispose();
  }
}

main().catch((err) => {
  console.error(err?.stack ?? err);
  process.exit(1);
});
