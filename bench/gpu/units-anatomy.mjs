// Where the matrix units' product kernel (kernels/matrix-units.ts) spends its GPU time: per product shape, the
// kernel as lmprobe runs it (with each workgroup-memory staging, "words" and "halves"), then with parts of its loop
// over K left out, each timed alone by GPU timestamps (tf.time's per-dispatch times, timestamp quantization off):
//   full          the kernel (staging words; full-halves: the staging before it; direct: A's terms split once by
//                 RowSplitProgram and read by the units from global memory, not staged; direct-tk64: with 64-deep
//                 slices of B, which the workgroup memory A no longer takes allows)
//   no-mma        loads and staging, no product on the units
//   no-global     staging and products on the first slice's registers (no global loads inside the loop)
//   no-stage      products on the first staged slice, both barriers kept (no loads, no staging inside the loop)
//   mma-only      products on the first staged slice, no barriers
// The parts-left-out variants compute wrong numbers: they exist here only, in a subclass. full, direct and
// direct-tk64 are checked against full-halves bit for bit (max_abs_diff must be 0; direct-tk64 adds in the same
// order, 16 deep at a time). Each row also times the pass before the product (RowShiftProgram, RowSplitProgram).
// One JSON document on stdout.
//   node --import tsx bench/gpu/units-anatomy.mjs [--reps 7] [--inner 5] [--shapes "name:M:K:N:nt|nn;…"] [--out f.json]
// On the GPU machine: bash bench/gpu/units-anatomy.sh   (carry [".device"])
// --null (with LMPROBE_DAWN_OPTIONS=backend=null LMPROBE_BACKEND=webgpu): Dawn's null backend, which validates and runs
// nothing, with an 8×8×8 unit shape forced on and small products, each variant dispatched once, untimed: a check
// that every variant is accepted (test/backend/matrix-units.test.ts runs it).
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, median, option } from "../cli.mjs";
import { bf16Bits } from "./gpu-timing.mjs";

const require = createRequire(import.meta.url);
const lmprobe = require(path.join(ROOT, "src/internal.ts"));
const packed = require(path.join(ROOT, "src/backend/packed-weight.ts"));
const units = require(path.join(ROOT, "src/backend/kernels/matrix-units.ts"));
const { chooseUnitsSplitK } = require(path.join(ROOT, "src/backend/kernels/split-k.ts"));
const tf = require("@tensorflow/tfjs-core");

const reps = Number(option("reps", "7"));
const inner = Number(option("inner", "5"));
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
      const kCur = `let kCur = kStart + t * ${p.TK};`;
      if (kind === "no-global") return `var kBase = kStart;\n  ${p.load}\n  for (var t = 0; t < tiles; t++) {\n    ${kCur}\n    ${p.store}\n    workgroupBarrier();\n    ${p.mma}\n    workgroupBarrier();\n  }`;
      const staged = `var kBase = kStart;\n  ${p.load}\n  ${p.store}\n  workgroupBarrier();`;
      if (kind === "no-stage") return `${staged}\n  for (var t = 0; t < tiles; t++) {\n    ${kCur}\n    workgroupBarrier();\n    ${p.mma}\n    workgroupBarrier();\n  }`;
      if (kind === "mma-only") return `${staged}\n  for (var t = 0; t < tiles; t++) {\n    ${kCur}\n    ${p.mma}\n  }`;
      throw new Error(kind);
    }
  };
}
// [label, loop, staging, slice depth (null: the plan's)]
const VARIANTS = [
  ["full-halves", "full", "halves"],
  ["full", "full", "words"],
  ["direct", "full", "direct"],
  ["direct-tk64", "full", "direct", 64],
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
  const chunk = splits > 1 ? kChunk : K;
  const blockRows = units.unitBlock(units.matrixUnits.shape, plan.tile).rows;
  const Mpad = units.paddedRows(M, blockRows);
  const shiftProgram = new units.RowShiftProgram(M);
  const splitProgram = new units.RowSplitProgram(M, K, Mpad, plan.terms);
  const shifts = backend.runWebGPUProgram(shiftProgram, [x], "float32", [M, K].map(int32));
  const terms = backend.runWebGPUProgram(splitProgram, [x], "int32", [M, K, Mpad].map(int32));
  const staged = { inputs: [x, W.words, shifts], uniforms: [M, N, K, 0, chunk, 0, M].map(int32) };
  const direct = { inputs: [terms, W.words, terms], uniforms: [M, N, K, 0, chunk, plan.terms * Mpad * (K / 2), Mpad].map(int32) };
  const row = { shape: name, M, K, N, layout, tile: Object.values(plan.tile).join(","), terms: plan.terms, splits, variants: {} };
  const flops = 2 * M * N * K;
  const outputs = {};
  /** GPU ms per dispatch of run (which dispatches once), the median of reps samples of `inner` dispatches. */
  const timeOf = async (run) => {
    const times = [];
    for (let r = 0; r < reps + 2; r++) {
      const info = await tf.time(() => {
        for (let i = 0; i < inner; i++) backend.disposeData(run().dataId);
      });
      // Only this program runs inside tf.time: every timed dispatch is one of its products.
      const perDispatch = info.getExtraProfileInfo?.().map((d) => d.ms) ?? [info.kernelMs];
      if (r >= 2) times.push(perDispatch.reduce((a, b) => a + b, 0) / inner);
    }
    return times;
  };
  for (const [label, program, inputs, uniforms] of [["row-shift", shiftProgram, [x], [M, K]], ["row-split", splitProgram, [x], [M, K, Mpad]]]) {
    const dtype = label === "row-split" ? "int32" : "float32";
    if (nullCheck) {
      backend.disposeData(backend.runWebGPUProgram(program, inputs, dtype, uniforms.map(int32)).dataId);
      row[label] = { dispatched: true };
      continue;
    }
    const times = await timeOf(() => backend.runWebGPUProgram(program, inputs, dtype, uniforms.map(int32)));
    row[label] = { ms: +median(times).toFixed(4) };
  }
  for (const [label, kind, staging, tk] of VARIANTS) {
    const tile = tk ? { ...plan.tile, tk } : plan.tile;
    if (staging === "direct" && !units.directFits(M, K, chunk, tile, blockRows)) {
      row.variants[label] = { skipped: "directFits: K or the split's chunk not a multiple of the slice depth" };
      continue;
    }
    const Cls = variantClass(kind);
    const program = new Cls(M, N, layout, "bf16", false, false, splits, tile, units.matrixUnits.shape, plan.terms, units.matrixUnits.subgroupSize, 1, staging);
    const io = staging === "direct" ? direct : staged;
    const run = () => backend.runWebGPUProgram(program, io.inputs, "float32", io.uniforms);
    try {
      const first = run(); // compiles the pipeline
      if (kind === "full") outputs[label] = await backend.read(first.dataId);
      backend.disposeData(first.dataId);
      if (nullCheck) {
        row.variants[label] = { dispatched: true };
        continue;
      }
      const times = await timeOf(run);
      const ms = median(times);
      row.variants[label] = { ms: +ms.toFixed(4), tflops: +(flops / ms / 1e9).toFixed(2), ms_range: [Math.min(...times), Math.max(...times)].map((t) => +t.toFixed(4)) };
    } catch (err) {
      row.variants[label] = { error: String(err?.message ?? err).slice(0, 300) };
    }
  }
  // (The null backend runs nothing: its outputs are whatever the buffers held.)
  for (const label of ["full", "direct", "direct-tk64"]) {
    const [a, b] = [outputs[label], outputs["full-halves"]];
    if (nullCheck || !a || !b) continue;
    let maxAbsDiff = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      if (Number.isNaN(d)) maxAbsDiff = Number.isNaN(a[i]) && Number.isNaN(b[i]) ? maxAbsDiff : Infinity;
      else maxAbsDiff = Math.max(maxAbsDiff, d);
    }
    // JSON has no Infinity: a NaN where the other has a number is reported as a string.
    row[`${label}_vs_halves_max_abs_diff`] = Number.isFinite(maxAbsDiff) ? maxAbsDiff : String(maxAbsDiff);
  }
  const full = row.variants.full?.ms;
  if (full) for (const v of Object.values(row.variants)) if (v.ms) v.of_full = +(v.ms / full).toFixed(3);
  backend.disposeData(shifts.dataId);
  backend.disposeData(terms.dataId);
  tf.dispose([x]);
  W.dispose();
  doc.rows.push(row);
  console.error(JSON.stringify(row));
}
const text = JSON.stringify(doc, null, 1);
const out = option("out", "");
if (out) writeFileSync(out, text);
console.log(text);
process.exit(0);
