// Child process of matrix-units.test.ts: the matrix-unit products through tfjs-webgpu's own shader assembly and
// lmprobe's dispatch on Dawn's null backend, which validates shaders, pipelines and bind groups but runs nothing.
// Its adapter has no matrix shapes and subgroups of up to 128, so the units are forced on with an 8×8×8 shape at
// that subgroup size and two terms (the padded staging of 16×16×16 blocks needs more than its 16 KiB of workgroup
// memory): what is checked is that every variant is
// accepted by Dawn (bindings, uniforms, the hoisted enable directives, split-K, two and three weights side by side),
// not its numbers.
// Prints "ok <products>" or exits 1 with the device's errors.
import * as tf from "@tensorflow/tfjs-core";
import { setBackend } from "../../src/backend";
import { matrixUnits, planUnits, unitTiling } from "../../src/backend/kernels/matrix-units";
import { packWeight, weightMatMul, weightsMatMul } from "../../src/backend/packed-weight";

async function main(): Promise<void> {
  await setBackend("webgpu");
  // Count the products that ran on the units (and not on the tiled or plain kernels).
  const backend = tf.backend() as unknown as { runWebGPUProgram(p: { shaderKey: string }, ...rest: unknown[]): unknown };
  const run = backend.runWebGPUProgram.bind(backend);
  let onUnits = 0;
  backend.runWebGPUProgram = (p, ...rest) => {
    if (p.shaderKey.startsWith("lmprobeMatMulUnits")) onUnits++;
    return run(p, ...rest);
  };
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
    const before = onUnits;
    const y = weightsMatMul(x, Ws, biases, true);
    if (!y) throw new Error(`weightsMatMul refused ${layout} ${K}×[${widths}] on the units`);
    await y.data();
    if (onUnits === before) throw new Error(`${layout} ${K}×[${widths}] did not run on the units`);
    products++;
    tf.dispose([x, y, ...Ws.map((W) => W.words), ...biases.filter((b): b is tf.Tensor1D => b != null)]);
  }
  console.log(`ok ${products} products, ${onUnits} on the units`);
  process.exit(0);
}

main().catch((err) => {
  console.error(String(err?.stack ?? err));
  process.exit(1);
});
