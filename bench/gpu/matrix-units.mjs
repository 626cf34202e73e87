// Products with packed bf16 weights on the matrix units (kernels/matrix-units.ts) against the tiled float32 kernel,
// in the same process: per shape (Llama-3.1-8B's projections and lens, GPT-2-small's) and row count, the GPU time
// of the tiled kernel (LMPROBE_MATRIX_UNITS=off, split-K as chosen) and of the units with 3, 2 and 1 half-precision
// terms, TFLOP/s, and accuracy: each result's largest error against a float64 reference on sampled outputs,
// relative to Σ|x||w| of that output, beside the tiled kernel's own (float32 rounding). Prints one JSON document.
// --model qwen2.5-1.5b (or gpt2-small, demo; bench/cpu-bench-models.ts, packed weights where the checkpoint is bf16):
// also a whole forward at --positions (128) with the units off and on: the logits' largest difference relative to
// their largest magnitude, the positions whose top token differs, and each forward's median time.
//   node --import tsx bench/gpu/matrix-units.mjs [--rows 128,1024] [--reps 10] [--rounds 3] [--only llama|gpt2] [--terms 3,2,1]
//     [--tiles "4,2,2,4,32;2,2,4,4,32"] [--splits "1,2,4"] [--inner 1] [--shapes "name:K:N:layout[:rows];…"] [--model NAME]
//     [--tiny] [--out f.json]
// --splits: more variants, the units (two terms, lmprobe's tile) and the tiled kernel with LMPROBE_MATMUL_SPLITK set to
// each value (1: no split). --inner N: each timed sample runs N products back to back in one submission (the time per
// product; small products are then not timed with a queue round trip on top). --shapes: these products instead of
// the built-in list (rows: that shape's row counts, "+"-separated, instead of --rows). --joint "name:K:W0+W1[+W2]:layout[:rows];…":
// weights side by side (kernels/segmented.ts) as one product on the units against each weight's own product on
// the units: time per product pair, and whether the joint result has the same bits (it should: max_abs_diff 0).
// On the GPU machine: bash bench/gpu/matrix-units.sh   (carry [".device"])
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { ROOT, median, option } from "../cli.mjs";
import { bf16Bits, drain, gpuTime } from "./gpu-timing.mjs";

const require = createRequire(import.meta.url);
const lmprobe = require(path.join(ROOT, "src/internal.ts"));
const packed = require(path.join(ROOT, "src/backend/packed-weight.ts"));
const units = require(path.join(ROOT, "src/backend/kernels/matrix-units.ts"));
const tf = require("@tensorflow/tfjs-core");

const arg = option;
const rowsList = arg("rows", "128,1024").split(",").map(Number);
const reps = Number(arg("reps", "10"));
const roundCount = Number(arg("rounds", "3"));
const only = arg("only", "");
// --terms 3,2,1: the term counts timed with the default tiles; --tiles "sgm,sgn,rm,rn,tk;…": more variants, two
// terms each, with those tiles for every product (LMPROBE_MATRIX_UNIT_TILE), to choose the defaults from.
const termList = arg("terms", "3,2,1").split(",").filter(Boolean);
const tileList = arg("tiles", "").split(";").filter(Boolean);
const splitList = arg("splits", "").split(",").filter(Boolean);
const inner = Number(arg("inner", "1"));

const shapes = [
  ["llama q/o 4096x4096", 4096, 4096, "nt"],
  ["llama k/v 4096x1024", 4096, 1024, "nt"],
  ["llama mlp up 4096x14336", 4096, 14336, "nt"],
  ["llama mlp down 14336x4096", 14336, 4096, "nt"],
  ["llama lens chunk 4096x32768", 4096, 32768, "nt"],
  ["gpt2 attn 768x768", 768, 768, "nn"],
  ["gpt2 mlp up 768x3072", 768, 3072, "nn"],
  ["gpt2 mlp down 3072x768", 3072, 768, "nn"],
  ["gpt2 lens 768x50257", 768, 50257, "nt"],
].filter(([name]) => !only || name.startsWith(only));
const custom = arg("shapes", "");
if (custom) {
  shapes.splice(0, shapes.length, ...custom.split(";").filter(Boolean).map((spec) => {
    const [name, K, N, layout, rows] = spec.split(":");
    if (!name || !(Number(K) > 0) || !(Number(N) > 0) || (layout !== "nn" && layout !== "nt")) {
      throw new Error(`--shapes: "${spec}" is not name:K:N:nn|nt[:rows+rows]`);
    }
    return [name, Number(K), Number(N), layout, rows ? rows.split("+").map(Number) : null];
  }));
}
const jointShapes = arg("joint", "").split(";").filter(Boolean).map((spec) => {
  const [name, K, widths, layout, rows] = spec.split(":");
  const ws = (widths ?? "").split("+").map(Number);
  if (!name || !(Number(K) > 0) || ws.length < 2 || ws.some((w) => !(w > 0)) || (layout !== "nn" && layout !== "nt")) {
    throw new Error(`--joint: "${spec}" is not name:K:W0+W1[+W2]:nn|nt[:rows+rows]`);
  }
  return [name, Number(K), ws, layout, rows ? rows.split("+").map(Number) : null];
});
if (process.argv.includes("--tiny")) shapes.splice(0, shapes.length, ["tiny nt", 96, 200, "nt"], ["tiny nn", 64, 136, "nn"]);



const bf16Value = (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0];

/** Activations with a residual stream's spread: mostly ±1, every 97th value ×300, one row scaled down by 2^-20. */
function activations(M, K) {
  const x = new Float32Array(M * K);
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = (s / 2 ** 32) * 2 - 1;
    x[i] = u * (i % 97 === 0 ? 300 : 1) * (Math.floor(i / K) === 1 ? 2 ** -20 : 1);
  }
  return x;
}

process.env.LMPROBE_MATRIX_UNITS = "on"; // the device is created with the units; "off" per call for the tiled kernel
// Every shape on the units, whatever unitTiling's sizes say (they come from this benchmark); the model's forward
// below runs with them as lmprobe sets them.
const policy = { ...units.unitTiling };
Object.assign(units.unitTiling, { minRows: 0, minWeight: 0 });
await lmprobe.setBackend("webgpu");
const report = lmprobe.backendReport();
const doc = {
  bench: "matrix-units",
  adapter: report?.candidates?.find((c) => c.name === report.chosen)?.detail?.adapter ?? null,
  units: { shape: units.matrixUnits.shape, reason: units.matrixUnits.reason, subgroup_size: units.matrixUnits.subgroupSize, workgroup_storage: units.matrixUnits.workgroupStorage },
  reps,
  inner,
  rows: [],
};
console.error(JSON.stringify(doc.units));
for (const [name, K, N, layout, shapeRows] of shapes) {
  const stored = layout === "nt" ? [N, K] : [K, N];
  const bits = bf16Bits(K * N, K + N);
  const W = packed.packWeight(bits, stored, "bf16", layout === "nt");
  for (const M of shapeRows ?? rowsList) {
    const xs = activations(M, K);
    const x = tf.tensor2d(xs, [M, K]);
    const flops = 2 * M * N * K;
    const row = { shape: name, M, K, N, layout };
    const outs = {};
    const variants = [
      ["tiled", { LMPROBE_MATRIX_UNITS: "off" }],
      ...termList.map((t) => [`units${t}`, { LMPROBE_MATRIX_UNIT_TERMS: t }]),
      ...tileList.map((tile) => [`units2@${tile}`, { LMPROBE_MATRIX_UNIT_TERMS: "2", LMPROBE_MATRIX_UNIT_TILE: tile }]),
      ...splitList.flatMap((k) => [
        [`tiled_split${k}`, { LMPROBE_MATRIX_UNITS: "off", LMPROBE_MATMUL_SPLITK: k === "1" ? "off" : k }],
        [`units2_split${k}`, { LMPROBE_MATRIX_UNIT_TERMS: "2", LMPROBE_MATMUL_SPLITK: k === "1" ? "off" : k }],
      ]),
    ];
    const reset = () => {
      delete process.env.LMPROBE_MATRIX_UNIT_TERMS;
      delete process.env.LMPROBE_MATRIX_UNIT_TILE;
      delete process.env.LMPROBE_MATMUL_SPLITK;
      process.env.LMPROBE_MATRIX_UNITS = "on";
    };
    // One untimed pass of every variant first: the first product at a shape pays for its pipelines and output
    // buffers (in the H100 run of bench/results/gpu-h100/matrix-units/, the lens chunk's first variant took 14.9 ms
    // and the same kernel next 8.2).
    for (const [, env] of variants) {
      Object.assign(process.env, env);
      try {
        const y = packed.weightMatMul(x, W);
        await y.data();
        y.dispose();
      } catch {
        // reported by the timed pass below
      }
      reset();
    }
    // Timed in --rounds rounds, the variants taking turns within each, so that the GPU's clocks and the machine's
    // drift over the seconds a shape takes reach every variant alike (single passes per variant varied up to 4×
    // between calls: bench/results/gpu-h100/matrix-units-split-fix/). Each variant's figure: the median of its rounds.
    const rounds = {};
    for (let round = 0; round < roundCount; round++) {
      for (const [v, env] of variants) {
        Object.assign(process.env, env);
        try {
          const plan = units.planUnits(M, N, K);
          if (!v.startsWith("tiled")) row[`${v}_tile`] = plan ? Object.values(plan.tile).join(",") : null;
          (rounds[v] ??= []).push(await gpuTime(() => packed.weightMatMul(x, W), reps, inner));
          if (round === 0) {
            const y = packed.weightMatMul(x, W);
            outs[v] = await y.data();
            y.dispose();
          }
        } catch (err) {
          row[`${v}_error`] = String(err?.message ?? err).slice(0, 300);
        }
        reset();
      }
    }
    for (const [v, times] of Object.entries(rounds)) {
      const ms = median(times);
      row[`${v}_ms`] = +ms.toFixed(3);
      row[`${v}_ms_rounds`] = times.map((t) => +t.toFixed(3));
      row[`${v}_tflops`] = +(flops / ms / 1e9).toFixed(2);
    }
    // Accuracy on sampled outputs: float64 sums of the same float32 x and bf16 w.
    const samples = [];
    for (let i = 0; i < 64; i++) samples.push([(i * 37) % M, (i * 7919) % N]);
    samples.push([1, 0], [1, N - 1]); // the scaled-down row
    for (const v of Object.keys(outs)) {
      let worst = 0;
      for (const [m, n] of samples) {
        let sum = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          const w = bf16Value(bits[layout === "nt" ? n * K + k : k * N + n]);
          sum += xs[m * K + k] * w;
          mag += Math.abs(xs[m * K + k] * w);
        }
        const err = Math.abs(outs[v][m * N + n] - sum) / (mag || 1);
        worst = Math.max(worst, Number.isFinite(err) ? err : Infinity);
      }
      row[`${v}_max_rel_error`] = worst;
    }
    for (const [v] of variants.slice(1)) if (row.tiled_ms && row[`${v}_ms`]) row[`${v}_speedup`] = +(row.tiled_ms / row[`${v}_ms`]).toFixed(3);
    x.dispose();
    doc.rows.push(row);
    console.error(JSON.stringify(row));
  }
  W.dispose();
}
for (const [name, K, widths, layout, shapeRows] of jointShapes) {
  const Ws = widths.map((N, i) => packed.packWeight(bf16Bits(K * N, K + N + i), layout === "nt" ? [N, K] : [K, N], "bf16", layout === "nt"));
  for (const M of shapeRows ?? rowsList) {
    const x = tf.tensor2d(activations(M, K), [M, K]);
    const apart = () => tf.concat(Ws.map((W) => packed.weightMatMul(x, W)), 1);
    const joint = () => packed.weightsMatMul(x, Ws, Ws.map(() => null), true);
    const row = { joint: name, M, K, widths, layout };
    const probe = joint();
    if (!probe) {
      row.refused = "the units do not take these weights as one product (kernels/segmented.ts's segmentedUnitsPlan)";
    } else {
      const a = apart();
      const [da, db] = [await a.data(), await probe.data()];
      let maxAbsDiff = 0;
      let differing = 0;
      for (let i = 0; i < da.length; i++) {
        const d = Math.abs(da[i] - db[i]);
        if (d > 0 || Number.isNaN(d)) differing++;
        maxAbsDiff = Math.max(maxAbsDiff, d);
      }
      Object.assign(row, { max_abs_diff: maxAbsDiff, differing_values: differing, values: da.length });
      tf.dispose([a, probe]);
      // Separate products are timed without the concat (as a model runs them).
      const apartOnly = () => Ws.map((W) => packed.weightMatMul(x, W));
      const rounds = { apart: [], joint: [] };
      for (let round = 0; round < roundCount; round++) {
        rounds.apart.push(await gpuTime(apartOnly, reps, inner));
        rounds.joint.push(await gpuTime(joint, reps, inner));
      }
      const flops = 2 * M * K * widths.reduce((p, w) => p + w, 0);
      for (const v of ["apart", "joint"]) {
        row[`${v}_ms`] = +median(rounds[v]).toFixed(3);
        row[`${v}_tflops`] = +(flops / median(rounds[v]) / 1e9).toFixed(2);
      }
      row.joint_speedup = +(row.apart_ms / row.joint_ms).toFixed(3);
    }
    x.dispose();
    (doc.joint ??= []).push(row);
    console.error(JSON.stringify(row));
  }
  Ws.forEach((W) => W.dispose());
}
Object.assign(units.unitTiling, policy);
const modelName = arg("model", "");
if (modelName) {
  const { loadBenchModel } = require(path.join(ROOT, "bench/cpu-bench-models.ts"));
  const { model } = await loadBenchModel(modelName);
  const T = Number(arg("positions", "128"));
  const V = model.config.vocabSize;
  const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const entry = { model: modelName, positions: T };
  const logits = {};
  for (const [v, value, terms] of [["tiled", "off", ""], ["units3", "on", "3"], ["units2", "on", "2"]]) {
    process.env.LMPROBE_MATRIX_UNITS = value;
    process.env.LMPROBE_MATRIX_UNIT_TERMS = terms;
    const forward = () => {
      const out = model.run(ids);
      const l = out.logits;
      return { l, out };
    };
    const times = [];
    for (let i = 0; i < reps + 2; i++) {
      await drain();
      const t0 = performance.now();
      const { l, out } = forward();
      const data = await l.data();
      if (i >= 2) times.push(performance.now() - t0);
      if (i === reps + 1) logits[v] = data;
      out.dispose();
    }
    entry[`${v}_forward_ms`] = +median(times).toFixed(2);
  }
  process.env.LMPROBE_MATRIX_UNITS = "on";
  delete process.env.LMPROBE_MATRIX_UNIT_TERMS;
  const a = logits.tiled;
  for (const v of ["units3", "units2"]) {
    const b = logits[v];
    let maxDiff = 0;
    let maxMag = 0;
    let top1Differs = 0;
    for (let t = 0; t < T; t++) {
      let ia = 0;
      let ib = 0;
      for (let j = 0; j < V; j++) {
        const k = t * V + j;
        maxDiff = Math.max(maxDiff, Math.abs(a[k] - b[k]));
        maxMag = Math.max(maxMag, Math.abs(a[k]));
        if (a[k] > a[t * V + ia]) ia = j;
        if (b[k] > b[t * V + ib]) ib = j;
      }
      if (ia !== ib) top1Differs++;
    }
    Object.assign(entry, { [`${v}_max_abs_logit_diff`]: maxDiff, max_abs_logit: maxMag, [`${v}_relative`]: maxDiff / maxMag, [`${v}_top1_differs_at`]: top1Differs });
    if (entry.tiled_forward_ms && entry[`${v}_forward_ms`]) entry[`${v}_forward_speedup`] = +(entry.tiled_forward_ms / entry[`${v}_forward_ms`]).toFixed(3);
  }
  doc.model = entry;
  console.error(JSON.stringify(entry));
  model.dispose();
}
const text = JSON.stringify(doc, null, 1);
const out = arg("out", "");
if (out) writeFileSync(out, text);
console.log(text);
process.exit(0);
