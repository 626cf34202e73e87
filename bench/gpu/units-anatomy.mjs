// Where the matrix units' product kernel (kernels/matrix-units.ts) spends its time: per product shape, the kernel
// as lmprobe runs it with each workgroup-memory staging ("halves", "words"), then with parts of its loop over K
// left out:
//   full          the kernel (staging words; full-halves: staging halves; full-1-term: halves, one term of A)
//   no-mma        loads and staging, no product on the units
//   no-global     staging and products on the first slice's registers (no global loads inside the loop)
//   no-stage      products on the first staged slice, both barriers kept (no loads, no staging inside the loop)
//   mma-only      products on the first staged slice, no barriers
// The parts-left-out variants compute wrong numbers: they exist here only, in a subclass. `full` is checked against
// `full-halves` bit for bit (max_abs_diff must be 0). Each variant is timed as matrix-units.mjs times products: the
// wall time of --inner dispatches back to back in one submission, the queue drained around them (gpuTime), the
// variants taking turns within each of --rounds rounds so that the GPU's clock drift reaches all alike; each
// figure is the median of its rounds. (A first version timed each variant's dispatches alone by GPU timestamps,
// tf.time: on an H100 it gave 12–70 µs for the row-shift pass of a few µs and orders that contradicted each other,
// bench/results/gpu-h100/units-anatomy/: each dispatch ran alone on a GPU that had gone idle.) The row-shift pass
// before each product is not in these times. One JSON document on stdout.
//   node --import tsx bench/gpu/units-anatomy.mjs [--reps 5] [--inner 10] [--rounds 3] [--shapes "name:M:K:N:nt|nn;…"] [--out f.json]
// On the GPU machine: bash bench/gpu/units-anatomy.sh   (carry [".device"])
// --null (with LMPROBE_DAWN_OPTIONS=backend=null LMPROBE_BACKEND=webgpu): Dawn's null backend, which validates and runs
// nothing, with an 8×8×8 unit shape forced on and small products, each variant dispatched once, untimed: a check
// that every variant is accepted (test/backend/matrix-units.test.ts runs it).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, median, option } from "../cli.mjs";
import { bf16Bits, gpuTime } from "./gpu-timing.mjs";

const require = createRequire(import.meta.url);
const lmprobe = require(path.join(ROOT, "src/internal.ts"));
const packed = require(path.join(ROOT, "src/backend/packed-weight.ts"));
const units = require(path.join(ROOT, "src/backend/kernels/matrix-units.ts"));
const { chooseUnitsSplitK } = require(path.join(ROOT, "src/backend/kernels/split-k.ts"));
const tf = require("@tensorflow/tfjs-core");

const reps = Number(option("reps", "5"));
const inner = Number(option("inner", "10"));
const roundCount = Number(option("rounds", "3"));
const DEFAULT_SHAPES = [
  "8b-gate|up-128:128:4096:28672:nt",
  "8b-down-128:128:14336:4096:nt",
  "8b-qkv-128:128:4096:6144:nt",
  "8b-up-1024:1024:4096:14336:nt",
  "gpt2-qkv-1024:1024:768:2304:nn",
  "gpt2-q-1024:1024:768:768:nn",
  "gpt2-down-1024:1024:3072:768:nn",
].join(";");
const nullCheck = process.argv.includes("--null");
const shapes = option("shapes", nullCheck ? "null-nt:130:256:320:nt;null-nn:130:256:328:nn;null-split:130:2048:192:nt" : DEFAULT_SHAPES).split(";").filter(Boolean).map((spec) => {
  const [name, M, K, N, layout] = spec.split(":");
  if (!name || ![M, K, N].every((v) => Number(v) > 0) || (layout !== "nn" && layout !== "nt")) throw new Error(`--shapes: "${spec}" is not name:M:K:N:nt|nn`);
  return { name, M: Number(M), K: Number(K), N: Number(N), layout };
});

/** The kernel with its loop over K rebuilt from fewer parts (mainLoop's parts: load, store, mma). */
function variantClass(kind) {
  // Named: tfjs labels each shader module with its program's class name.
  return class UnitsAnatomyProgram extends units.MatMulUnitsProgram {
    constructor(...args) {
      super(...args);
      this.shaderKey += `_anatomy_${kind}`;
    }
    mainLoop(p) {
      if (kind === "full") return super.mainLoop(p);
      if (kind === "no-mma") return super.mainLoop({ ...p, mma: "" });
      if (kind === "no-global") return `var kBase = kStart;\n  ${p.load}\n  for (var t = 0; t < tiles; t++) {\n    ${p.store}\n    workgroupBarrier();\n    ${p.mma}\n    workgroupBarrier();\n  }`;
      const staged = `var kBase = kStart;\n  ${p.load}\n  ${p.store}\n  workgroupBarrier();`;
      if (kind === "no-stage") return `${staged}\n  for (var t = 0; t < tiles; t++) {\n    workgroupBarrier();\n    ${p.mma}\n    workgroupBarrier();\n  }`;
      if (kind === "mma-only") return `${staged}\n  for (var t = 0; t < tiles; t++) {\n    ${p.mma}\n  }`;
      throw new Error(kind);
    }
  };
}
// [label, loop, staging, terms (default: the plan's)]
const VARIANTS = [
  ["full-halves", "full", "halves"],
  // One half-precision term of A: half the units' work, same loads (how much of the time the products take).
  ["full-1-term", "full", "halves", 1],
  ["full", "full", "words"],
  ["no-mma", "no-mma", "words"],
  ["no-global", "no-global", "words"],
  ["no-stage", "no-stage", "words"],
  ["mma-only", "mma-only", "words"],
];

process.env.LMPROBE_MATRIX_UNITS = "on";
Object.assign(units.unitTiling, { minRows: 0, minWeight: 0 });
await lmprobe.setBackend("webgpu");
// The null backend's adapter lists no matrix shapes and subgroups of up to 128 (see matrix-units-null.ts).
if (nullCheck) Object.assign(units.matrixUnits, { shape: { M: 8, N: 8, K: 8 }, subgroupSize: 128, workgroupStorage: 16384 });
const backend = tf.backend();
const report = lmprobe.backendReport();
const doc = {
  bench: "units-anatomy",
  adapter: report?.candidates?.find((c) => c.name === report.chosen)?.detail?.adapter ?? null,
  units: { shape: units.matrixUnits.shape, reason: units.matrixUnits.reason, subgroup_size: units.matrixUnits.subgroupSize, workgroup_storage: units.matrixUnits.workgroupStorage },
  reps,
  inner,
  rounds: roundCount,
  rows: [],
};
console.error(JSON.stringify(doc.units));
if (!units.matrixUnits.shape) {
  console.log(JSON.stringify(doc, null, 1));
  process.exit(0);
}
const int32 = (v) => ({ type: "int32", data: [v] });

for (const { name, M, K, N, layout } of shapes) {
  const nt = layout === "nt";
  const W = packed.packWeight(bf16Bits(K * N, K + N), nt ? [N, K] : [K, N], "bf16", nt);
  const xs = new Float32Array(M * K).map((_, i) => Math.sin(i * 0.37) * (i % 97 === 0 ? 300 : 1));
  const x = tf.tensor2d(xs, [M, K]);
  const plan = units.planUnits(M, N, K);
  const { splits, kChunk } = chooseUnitsSplitK(M, N, K, plan.blockRows, plan.blockCols);
  const shifts = backend.runWebGPUProgram(new units.RowShiftProgram(M), [x], "float32", [M, K].map(int32));
  const inputs = [x, W.words, shifts];
  const uniforms = [M, N, K, 0, splits > 1 ? kChunk : K].map(int32);
  const row = { shape: name, M, K, N, layout, tile: Object.values(plan.tile).join(","), terms: plan.terms, splits, variants: {} };
  const flops = 2 * M * N * K;
  const outputs = {};
  const runs = {};
  for (const [label, kind, staging, terms] of VARIANTS) {
    const Cls = variantClass(kind);
    const program = new Cls(M, N, layout, "bf16", false, false, splits, plan.tile, units.matrixUnits.shape, terms ?? plan.terms, units.matrixUnits.subgroupSize, 1, staging);
    // A tensor per dispatch, so that gpuTime disposes what it ran.
    runs[label] = () => tf.engine().makeTensorFromTensorInfo(backend.runWebGPUProgram(program, inputs, "float32", uniforms));
    try {
      const first = runs[label](); // compiles the pipeline
      if (kind === "full" && !terms) outputs[label] = await first.data();
      first.dispose();
      row.variants[label] = nullCheck ? { dispatched: true } : {};
    } catch (err) {
      row.variants[label] = { error: String(err?.message ?? err).slice(0, 300) };
      delete runs[label];
    }
  }
  if (!nullCheck) {
    const rounds = {};
    for (let round = 0; round < roundCount; round++) {
      for (const [label, run] of Object.entries(runs)) (rounds[label] ??= []).push(await gpuTime(run, reps, inner));
    }
    for (const [label, times] of Object.entries(rounds)) {
      const ms = median(times);
      row.variants[label] = { ms: +ms.toFixed(4), tflops: +(flops / ms / 1e9).toFixed(2), ms_rounds: times.map((t) => +t.toFixed(4)) };
    }
    const full = row.variants.full?.ms;
    if (full) for (const v of Object.values(row.variants)) if (v.ms) v.of_full = +(v.ms / full).toFixed(3);
    // (The null backend runs nothing: its outputs are whatever the buffers held.)
    const [a, b] = [outputs.full, outputs["full-halves"]];
    if (a && b) {
      let maxAbsDiff = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        if (Number.isNaN(d)) maxAbsDiff = Number.isNaN(a[i]) && Number.isNaN(b[i]) ? maxAbsDiff : Infinity;
        else maxAbsDiff = Math.max(maxAbsDiff, d);
      }
      // JSON has no Infinity: a NaN where the other has a number is reported as a string.
      row.words_vs_halves_max_abs_diff = Number.isFinite(maxAbsDiff) ? maxAbsDiff : String(maxAbsDiff);
    }
  }
  backend.disposeData(shifts.dataId);
  x.dispose();
  W.dispose();
  doc.rows.push(row);
  console.error(JSON.stringify(row));
}
const text = JSON.stringify(doc, null, 1);
const out = option("out", "");
if (out) writeFileSync(out, text);
console.log(text);
process.exit(0);
