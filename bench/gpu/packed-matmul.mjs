// Matrix-product rates of the tiled kernel's load schemes (kernels/matmul.ts, MatMulVariant v1 and v2) on the GPU,
// both in the same run: bf16 weights kept packed (LMPROBE_PACKED_KERNEL) and float32 weights (LMPROBE_MATMUL_KERNEL),
// at the shapes of a Llama-3.1-8B forward and lens and of GPT-2-small, M = 128 and 1024 rows. Each row also says
// whether v1 and v2 gave the same numbers (they run the same multiply-adds in the same order: max |v1 − v2| = 0).
// Prints one JSON document (and writes it to --out when given).
//
// Then split-K (kernels/split-k.ts): the packed product with K unsplit, split as chosen by default, and split into
// fixed counts (--splits), and the float32 product unsplit and as chosen.
//
//   node --import tsx bench/gpu/packed-matmul.mjs [--rows 128,1024] [--reps 10] [--only llama|gpt2] [--no-f32] [--splits off,auto,2,4,8] [--tiny] [--out f.json]
// On the GPU machine: bash bench/gpu/packed-matmul.sh   (carry [".device"])
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT, option } from "../cli.mjs";
import { bf16Bits, gpuTime } from "./gpu-timing.mjs";

const require = createRequire(import.meta.url);
const lmprobe = require(path.join(ROOT, "src/internal.ts"));
const packed = require(path.join(ROOT, "src/backend/packed-weight.ts"));
const { planPackedMatMul } = require(path.join(ROOT, "src/backend/kernels/packed.ts"));
const { chooseSplitK } = require(path.join(ROOT, "src/backend/kernels/split-k.ts"));
const tf = require("@tensorflow/tfjs-core");

const arg = option;
const rowsList = arg("rows", "128,1024").split(",").map(Number);
const reps = Number(arg("reps", "10"));
const only = arg("only", "");
const withF32 = !process.argv.includes("--no-f32");
// Split-K settings timed per packed product (LMPROBE_MATMUL_SPLITK): "off", "auto" (the default choice), counts.
const splitList = arg("splits", "off,auto,2,4,8").split(",");

/** [name, K, N, layout]: "nt" is a weight stored [N, K] (nn.Linear, an unembedding), "nn" one stored [K, N] (GPT-2's Conv1D). */
const shapes = [
  ["llama q/o 4096x4096", 4096, 4096, "nt"],
  ["llama k/v 4096x1024", 4096, 1024, "nt"],
  ["llama mlp up 4096x14336", 4096, 14336, "nt"],
  ["llama mlp down 14336x4096", 14336, 4096, "nt"],
  ["llama lens 4096x128256 (W_U stored [128256,4096])", 4096, 128256, "nt"],
  ["gpt2 attn 768x768", 768, 768, "nn"],
  ["gpt2 mlp up 768x3072", 768, 3072, "nn"],
  ["gpt2 mlp down 3072x768", 3072, 768, "nn"],
  ["gpt2 lens 768x50257 (wte [50257,768])", 768, 50257, "nt"],
].filter(([name]) => !only || name.startsWith(only));
// --tiny: two small shapes instead, to check the script end to end on a software adapter (never for timings).
if (process.argv.includes("--tiny")) shapes.splice(0, shapes.length, ["tiny nt", 96, 200, "nt"], ["tiny nn", 64, 136, "nn"]);




async function maxAbs(a, b) {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0];
  d.dispose();
  return v;
}

await lmprobe.setBackend("webgpu");
const report = lmprobe.backendReport();
const doc = { bench: "packed-matmul", adapter: report?.candidates?.find((c) => c.name === report.chosen)?.detail?.adapter ?? null, reps, rows: [] };
const variants = ["v1", "v2"];
for (const [name, K, N, layout] of shapes) {
  const stored = layout === "nt" ? [N, K] : [K, N];
  const bits = bf16Bits(K * N, K + N);
  const W = packed.packWeight(bits, stored, "bf16", layout === "nt");
  const W32 = withF32 ? packed.float32Weight(W) : null; // the same values as float32 [K, N]
  const W32t = W32 && layout === "nt" ? tf.transpose(W32) : null; // stored [N, K] as the float32 path keeps it
  for (const M of rowsList) {
    const x = tf.randomUniform([M, K], -1, 1, "float32", 7);
    const flops = 2 * M * N * K;
    const plan = planPackedMatMul([M, K], { layout, format: "bf16", N, K, rowOffset: 0 });
    const row = { shape: name, M, K, N, layout, tile: plan?.tile ?? "plain", workgroups: plan ? Math.ceil(M / plan.tile) * Math.ceil(N / plan.tile) : null };
    const outs = {};
    process.env.LMPROBE_MATMUL_SPLITK = "off";
    for (const v of variants) {
      process.env.LMPROBE_PACKED_KERNEL = v;
      const ms = await gpuTime(() => packed.weightMatMul(x, W), reps);
      row[`packed_${v}_ms`] = +ms.toFixed(3);
      row[`packed_${v}_tflops`] = +(flops / ms / 1e9).toFixed(2);
      outs[v] = packed.weightMatMul(x, W);
    }
    delete process.env.LMPROBE_PACKED_KERNEL;
    // Split-K (kernels/split-k.ts) with the load scheme chosen by shape: off, the default choice, forced counts.
    for (const sp of splitList) {
      process.env.LMPROBE_MATMUL_SPLITK = sp;
      const ms = await gpuTime(() => packed.weightMatMul(x, W), reps);
      row[`packed_split_${sp}_ms`] = +ms.toFixed(3);
      if (sp === "auto") row.split_auto = chooseSplitK(M, N, K, plan?.tile ?? 64, 1).splits;
    }
    delete process.env.LMPROBE_MATMUL_SPLITK;
    if (row.packed_split_off_ms && row.packed_split_auto_ms) row.packed_split_auto_speedup = +(row.packed_split_off_ms / row.packed_split_auto_ms).toFixed(3);
    row.packed_v2_over_v1 = +(row.packed_v1_ms / row.packed_v2_ms).toFixed(3);
    row.packed_max_abs_v1_v2 = await maxAbs(outs.v1, outs.v2);
    tf.dispose(Object.values(outs));
    if (W32) {
      const f32outs = {};
      for (const v of variants) {
        process.env.LMPROBE_MATMUL_KERNEL = v;
        const run = () => (W32t ? tf.matMul(x, W32t, false, true) : tf.matMul(x, W32));
        const ms = await gpuTime(run, reps);
        row[`f32_${v}_ms`] = +ms.toFixed(3);
        row[`f32_${v}_tflops`] = +(flops / ms / 1e9).toFixed(2);
        f32outs[v] = run();
      }
      delete process.env.LMPROBE_MATMUL_KERNEL;
      for (const sp of ["off", "auto"]) {
        process.env.LMPROBE_MATMUL_SPLITK = sp;
        const ms = await gpuTime(() => (W32t ? tf.matMul(x, W32t, false, true) : tf.matMul(x, W32)), reps);
        row[`f32_split_${sp}_ms`] = +ms.toFixed(3);
      }
      process.env.LMPROBE_MATMUL_SPLITK = "off";
      row.f32_v2_over_v1 = +(row.f32_v1_ms / row.f32_v2_ms).toFixed(3);
      row.f32_max_abs_v1_v2 = await maxAbs(f32outs.v1, f32outs.v2);
      tf.dispose(Object.values(f32outs));
    }
    delete process.env.LMPROBE_PACKED_KERNEL;
    delete process.env.LMPROBE_MATMUL_KERNEL;
    delete process.env.LMPROBE_MATMUL_SPLITK;
    x.dispose();
    doc.rows.push(row);
    console.error(JSON.stringify(row));
  }
  tf.dispose([W32, W32t].filter(Boolean));
  W.dispose();
}
const text = JSON.stringify(doc, null, 1);
const out = arg("out", "");
if (out) writeFileSync(out, text);
console.log(text);
process.exit(0);
