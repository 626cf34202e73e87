// Whole models with packed weights on webgpu: bf16 copies of float32 fixtures of the families whose converters read
// weights differently (GPT-2: Conv1D layout, fused c_attn cut on the host, tied embedding, learned positions;
// Phi-3: fused qkv and gate_up cut on the host; Gemma 2: tied embedding with a softcap; Qwen2: biases on q/k/v;
// Granite: multipliers folded into widened W_O / W_out; DeepSeek-V3: latent attention beside packed W_O; Mixtral:
// packed attention beside float32 experts),
// loaded twice from the same bf16 file, packed and (LMPROBE_PACKED_WEIGHTS=0) widened to float32 at load. Both
// compute in float32 from the same values, so logits, the logit lens and direct logit attribution must agree to
// float32 rounding; the verify run (webgpu-software.test.ts) covers the bf16 demo and the f16 sharded fixture
// against the reference. Runs where a WebGPU adapter exists; skips elsewhere, saying why.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../../src/load";
import { logitLens } from "../../src/probe/logit-lens";
import { directLogitAttribution } from "../../src/probe/direct-logit-attribution";
import { canonicalParameters } from "../../src/model/canonical";
import { float32Weight, isPacked, packWeightLater, withDeferredWeightUploads } from "../../src/backend/packed-weight";
import { NonFiniteWeightError } from "../../src/errors";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { webgpuOrSkip } from "./webgpu-helpers";

const FIXTURES = path.resolve(__dirname, "../fixtures");

/** A copy of a fixture whose float tensors are stored as BF16 (rounded to nearest even by the writer). */
function bf16Copy(fixture: string): string {
  const src = path.join(FIXTURES, fixture);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-bf16-"));
  for (const name of fs.readdirSync(src)) {
    if (name.startsWith("reference") || name.endsWith(".safetensors")) continue;
    fs.copyFileSync(path.join(src, name), path.join(dir, name));
  }
  const weights = openWeightSource(src);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of weights.names()) {
    const info = weights.info(name);
    if (info.dtype !== "F32") throw new Error(`${fixture}: ${name} is ${info.dtype}; this test converts F32 fixtures`);
    tensors[name] = { dtype: "BF16", shape: info.shape, data: weights.read(name) };
  }
  weights.close();
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  return dir;
}

interface Outputs {
  packed: number;
  logits: Float32Array;
  lens: number[];
  dla: number[];
}

async function outputs(dir: string, packed: boolean): Promise<Outputs> {
  const saved = process.env.LMPROBE_PACKED_WEIGHTS;
  if (packed) delete process.env.LMPROBE_PACKED_WEIGHTS;
  else process.env.LMPROBE_PACKED_WEIGHTS = "0";
  try {
    const model = await loadModel(dir, { backend: "webgpu" });
    const before = tf.memory().numTensors;
    const text = "The capital of France is Paris, and";
    const run = model.run(text);
    const logits = (await run.logits.data()) as Float32Array;
    run.dispose();
    const lens = await logitLens(model, text, { k: 5 });
    const dla = await directLogitAttribution(model, text, {});
    const out = {
      packed: canonicalParameters(model.weights).filter(isPacked).length,
      logits,
      lens: lens.table.array("prob") as number[],
      dla: [...(dla.components.array("contribution") as number[]), ...(dla.heads.array("contribution") as number[]), ...(dla.neurons.array("contribution") as number[])],
    };
    assert.equal(tf.memory().numTensors, before, "the probes leave no tensors behind");
    model.dispose();
    return out;
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_PACKED_WEIGHTS;
    else process.env.LMPROBE_PACKED_WEIGHTS = saved;
  }
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  assert.ok(worst <= 1e-4 * Math.max(1, scale), `${what}: max difference ${worst} (scale ${scale})`);
}

for (const fixture of ["tiny/gpt2", "generated/phi3", "tiny/gemma2", "tiny/qwen2", "generated/granite", "generated/deepseek_v3", "tiny/mixtral"]) {
  test(`${fixture} in bf16: packed weights give the numbers of float32 weights widened from the same file`, async (t) => {
    if (!(await webgpuOrSkip(t))) return;
    const dir = bf16Copy(fixture);
    try {
      const float32 = await outputs(dir, false);
      const packed = await outputs(dir, true);
      assert.equal(float32.packed, 0, "LMPROBE_PACKED_WEIGHTS=0 keeps every weight float32");
      assert.ok(packed.packed > 0, "the bf16 projections and embeddings are packed");
      assertClose(packed.logits, float32.logits, "logits");
      assertClose(packed.lens, float32.lens, "logit lens probabilities");
      assertClose(packed.dla, float32.dla, "direct logit attribution");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// GPT-2's fused q|k|v bias is cut on the device, and tfjs-webgpu runs a slice on the GPU once it has more than 1000
// elements (tiny/gpt2's 192 are cut on the host): here 3 · 352 = 1056. Each layer's cut was recorded into the open
// compute pass just before the next layer's packed c_attn was put on the device, whose submit then invalidated it:
// every layer but the last ran with q/k/v biases of zero.
test("a bf16 GPT-2 whose q|k|v bias is cut on the GPU: packed weights give the numbers of float32 weights", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const src = path.join(FIXTURES, "tiny/gpt2");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-bf16-gpt2-"));
  try {
    for (const name of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(src, name), path.join(dir, name));
    const [d, L, V, P] = [352, 3, 512, 64];
    const config = JSON.parse(fs.readFileSync(path.join(src, "config.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, n_embd: d, n_layer: L, n_head: 4, n_positions: P, vocab_size: V, dtype: "bfloat16" }));
    let seed = 7;
    const random = (n: number, scale: number) => Float32Array.from({ length: n }, () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * scale);
    const tensors: Record<string, TensorToWrite> = {};
    const put = (name: string, shape: number[], scale: number, offset = 0) => {
      tensors[name] = { dtype: "BF16", shape, data: random(shape.reduce((a, b) => a * b, 1), scale).map((v) => v + offset) };
    };
    put("transformer.wte.weight", [V, d], 0.2);
    put("transformer.wpe.weight", [P, d], 0.1);
    put("transformer.ln_f.weight", [d], 0.1, 1);
    put("transformer.ln_f.bias", [d], 0.1);
    for (let l = 0; l < L; l++) {
      const p = `transformer.h.${l}.`;
      put(`${p}ln_1.weight`, [d], 0.1, 1); put(`${p}ln_1.bias`, [d], 0.1); put(`${p}ln_2.weight`, [d], 0.1, 1); put(`${p}ln_2.bias`, [d], 0.1);
      put(`${p}attn.c_attn.weight`, [d, 3 * d], 0.2); put(`${p}attn.c_attn.bias`, [3 * d], 2); // biases large enough to matter
      put(`${p}attn.c_proj.weight`, [d, d], 0.1); put(`${p}attn.c_proj.bias`, [d], 0.2);
      put(`${p}mlp.c_fc.weight`, [d, 4 * d], 0.1); put(`${p}mlp.c_fc.bias`, [4 * d], 0.2);
      put(`${p}mlp.c_proj.weight`, [4 * d, d], 0.05); put(`${p}mlp.c_proj.bias`, [d], 0.2);
    }
    writeSafetensors(path.join(dir, "model.safetensors"), tensors);
    const float32 = await outputs(dir, false);
    const packed = await outputs(dir, true);
    assert.ok(packed.packed > 0, "the bf16 projections and embeddings are packed");
    assertClose(packed.logits, float32.logits, "logits");
    assertClose(packed.lens, float32.lens, "logit lens probabilities");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("loadModel writes packed weights after the build, one at a time; a NaN in a bf16 tensor is refused with nothing left behind", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  // Inside the deferral a packed weight exists before its values; one a converter uses during the build (Granite
  // widens W_O to fold a multiplier in) is read and written at that moment, never read as an unwritten buffer.
  let reads = 0;
  const read = (bits: number[]) => () => {
    reads++;
    return new Uint16Array(bits);
  };
  const [early, late] = await withDeferredWeightUploads(
    () => {
      const a = packWeightLater(read([0x3f80, 0x4000, 0x4040, 0x4080]), [2, 2], "bf16", false);
      const b = packWeightLater(read([0x4000, 0x4000]), [1, 2], "bf16", false);
      assert.equal(reads, 0, "nothing is read during the build");
      assert.ok(a.pendingUpload && b.pendingUpload);
      const widened = float32Weight(a);
      assert.equal(reads, 1, "a weight used during the build is read then");
      widened.dispose();
      return [a, b];
    },
    ([a, b]) => tf.dispose([a.words, b.words]),
  );
  assert.equal(reads, 2, "each weight is read once");
  assert.deepEqual(await float32Weight(early).array(), [[1, 2], [3, 4]]);
  assert.deepEqual(await float32Weight(late).array(), [[2, 2]], "written after the build");
  early.dispose();
  late.dispose();

  const dir = bf16Copy("tiny/qwen2");
  try {
    const before = tf.memory().numTensors;
    // The last q_proj value becomes a bf16 NaN (exponent all ones, mantissa non-zero).
    const file = path.join(dir, "model.safetensors");
    const weights = openWeightSource(dir);
    const name = "model.layers.0.self_attn.q_proj.weight";
    const info = weights.info(name);
    weights.close();
    const bytes = fs.readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
    const end = 8 + headerLength + header[name].data_offsets[1];
    bytes.writeUInt16LE(0x7fc1, end - 2);
    fs.writeFileSync(file, bytes);
    assert.equal(info.dtype, "BF16");
    await assert.rejects(loadModel(dir, { backend: "webgpu" }), (e: Error) => e instanceof NonFiniteWeightError && e.message.includes(name));
    assert.equal(tf.memory().numTensors, before, "the half-built model was disposed");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
