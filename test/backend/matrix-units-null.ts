// Child process of matrix-units.test.ts: the matrix-unit products through tfjs-webgpu's own shader assembly and
// lmprobe's dispatch on Dawn's null backend, which validates shaders, pipelines and bind groups but runs nothing.
// Its adapter has no matrix shapes and subgroups of up to 128, so the units are forced on with an 8×8×8 shape at
// that subgroup size and two terms (the padded staging of 16×16×16 blocks needs more than its 16 KiB of workgroup
// memory): what is checked is that every variant is
// accepted by Dawn (bindings, uniforms, the hoisted enable directives, split-K, two and three weights side by side),
// not its numbers.
// Then the f16 Llama fixture's forward (packed weights): how many layers ran gate | up as one units product, with
// nothing observed and with one layer's hook_pre cached. Prints "ok <products>" and "joint gate|up: …" or exits 1
// with the device's errors.
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { matrixUnits, planUnits, unitTiling } from "../../src/backend/kernels/matrix-units";
import { packWeight, weightMatMul, weightsMatMul } from "../../src/backend/packed-weight";
import { matrixUnitUse } from "../../src/backend/kernels/matrix-units";
import { countDispatches } from "./webgpu-helpers";
import { loadModel } from "../../src/index";

async function main(): Promise<void> {
  await setBackend("webgpu");
  // Count the products that ran on the units (and not on the tiled or plain kernels).
  const onUnits = countDispatches((key) => key.startsWith("lmprobeMatMulUnits"));
  Object.assign(matrixUnits, { shape: { M: 8, N: 8, K: 8 }, subgroupSize: 128, workgroupStorage: 16384 });
  Object.assign(unitTiling, { minRows: 0, minWeight: 0 }); // small products: what is checked is Dawn's validation
  let products = 0;
  for (const [layout, K, N, split] of [["nt", 256, 320, "off"], ["nn", 256, 328, "off"], ["nt", 2048, 192, "2"]] as const) {
    process.env.LMPROBE_MATMUL_SPLITK = split;
    const stored: [number, number] = layout === "nt" ? [N, K] : [K, N];
    const W = packWeight(new Uint16Array(K * N).fill(0x3f80), stored, "bf16", layout === "nt");
    for (const format of ["plain", "bias+residual"]) {
      const x = tf.ones([130, K]) as tf.Tensor2D;
      if (!planUnits(130, N, K)) throw new Error(`planUnits refused ${layout} ${K}×${N}`);
      const bias = format === "plain" ? null : (tf.zeros([N]) as tf.Tensor1D);
      const residual = format === "plain" ? null : (tf.zeros([130, N]) as tf.Tensor2D);
      const y = weightMatMul(x, W, bias, residual);
      await y.data(); // throws DeviceValidationError if Dawn rejected anything
      products++;
      tf.dispose([x, y, ...(bias ? [bias] : []), ...(residual ? [residual] : [])]);
    }
    W.dispose();
  }
  // Weights side by side (kernels/segmented.ts): two and three segments, both layouts, bias, split-K.
  for (const [layout, K, widths, split, withBias] of [
    ["nt", 256, [128, 128], "off", false],
    ["nn", 256, [128, 256, 128], "off", true],
    ["nt", 2048, [128, 64, 64], "2", true],
  ] as const) {
    process.env.LMPROBE_MATMUL_SPLITK = split;
    const Ws = widths.map((N) => packWeight(new Uint16Array(K * N).fill(0x3f80), layout === "nt" ? [N, K] : [K, N], "bf16", layout === "nt"));
    const biases = widths.map((N) => (withBias ? (tf.zeros([N]) as tf.Tensor1D) : null));
    const x = tf.ones([130, K]) as tf.Tensor2D;
    const before = onUnits.count();
    const y = weightsMatMul(x, Ws, biases, true);
    if (!y) throw new Error(`weightsMatMul refused ${layout} ${K}×[${widths}] on the units`);
    await y.data();
    if (onUnits.count() === before) throw new Error(`${layout} ${K}×[${widths}] did not run on the units`);
    products++;
    tf.dispose([x, y, ...Ws.map((W) => W.words), ...biases.filter((b): b is tf.Tensor1D => b != null)]);
  }
  console.log(`ok ${products} products, ${onUnits.count()} on the units`);
  // A gated model (the f16 Llama fixture, weights packed): each layer's gate and up as one product on the units,
  // except where a hook observes hook_pre (then both apart).
  delete process.env.LMPROBE_MATMUL_SPLITK;
  const model = await loadModel(path.join(__dirname, "../fixtures/tiny/llama3-f16-sharded"));
  const ids = Array.from({ length: 20 }, (_, i) => 1 + i); // ≥ 16 rows: what the units take (unitsTake)
  const jointBefore = matrixUnitUse.joint;
  const plain = model.run([ids]);
  await plain.logits.data();
  plain.dispose();
  const jointPlain = matrixUnitUse.joint - jointBefore;
  const observed = model.run([ids], { cache: ["blocks.0.mlp.hook_pre"] });
  await observed.logits.data();
  observed.dispose();
  const jointObserved = matrixUnitUse.joint - jointBefore - jointPlain;
  console.log(`joint gate|up: ${jointPlain} of ${model.nLayers} layers; with blocks.0.mlp.hook_pre cached: ${jointObserved}`);
  model.dispose();
  process.exit(0);
}

main().catch((err) => {
  console.error(String(err?.stack ?? err));
  process.exit(1);
});
