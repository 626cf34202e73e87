// gpt-oss MXFP4 checkpoints: the experts' *_blocks / *_scales read as the float parameters transformers'
// dequantising loader makes of them. A checkpoint quantised here from the float gpt_oss fixture must give
// back its expert weights within MXFP4's rounding, and the fixture that transformers itself dequantised
// (test/fixtures/generated/gpt_oss-mxfp4, made by scripts/fixtures/make_mxfp4_fixture.py) must pass verify().
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { UnsupportedDtypeError, WeightShapeError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { loadModel } from "../../src/load";
import { verify } from "../../src/verify";
import { tempDir } from "./helpers";

const FLOAT = path.resolve(__dirname, "../fixtures/generated/gpt_oss");
const MXFP4 = path.resolve(__dirname, "../fixtures/generated/gpt_oss-mxfp4");
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** [experts, in, out] float → transformers' MXFP4 tensors of its [experts, out, in] transpose. */
function quantise(values: Float32Array, [experts, inDim, outDim]: number[]): { blocks: Uint8Array; scales: Uint8Array } {
  const groups = inDim / 32;
  const blocks = new Uint8Array(experts * outDim * groups * 16);
  const scales = new Uint8Array(experts * outDim * groups);
  for (let e = 0; e < experts; e++) {
    for (let r = 0; r < outDim; r++) {
      for (let g = 0; g < groups; g++) {
        const v = Array.from({ length: 32 }, (_, j) => values[e * inDim * outDim + (g * 32 + j) * outDim + r]);
        const amax = Math.max(...v.map(Math.abs), 2 ** -100);
        const exponent = Math.max(-127, Math.min(127, Math.ceil(Math.log2(amax / 6))));
        const at = (e * outDim + r) * groups + g;
        scales[at] = exponent + 127;
        const codes = v.map((x) => {
          let best = 0;
          for (let c = 1; c < 16; c++) if (Math.abs(x / 2 ** exponent - E2M1[c]) < Math.abs(x / 2 ** exponent - E2M1[best])) best = c;
          return best;
        });
        for (let j = 0; j < 16; j++) blocks[at * 16 + j] = codes[2 * j] | (codes[2 * j + 1] << 4);
      }
    }
  }
  return { blocks, scales };
}

let work: string;
before(() => (work = tempDir("lmprobe-mxfp4-")));
after(() => fs.rmSync(work, { recursive: true, force: true }));

/** The float gpt_oss fixture with its experts written as MXFP4 (as gpt-oss's checkpoints store them). */
function writeMxfp4Checkpoint(dir: string): Map<string, { values: Float32Array; shape: number[] }> {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]) fs.copyFileSync(path.join(FLOAT, f), path.join(dir, f));
  const config = JSON.parse(fs.readFileSync(path.join(FLOAT, "config.json"), "utf8"));
  // The quantization_config scripts/fixtures/make_mxfp4_fixture.py writes (and gpt-oss's own config.json has).
  const quantization = { quant_method: "mxfp4", modules_to_not_convert: ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"] };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, quantization_config: quantization }));
  const source = openWeightSource(FLOAT);
  const tensors: Record<string, TensorToWrite> = {};
  const experts = new Map<string, { values: Float32Array; shape: number[] }>();
  for (const name of source.names()) {
    const { shape } = source.info(name);
    const values = source.read(name);
    if (/experts\.(gate_up_proj|down_proj)$/.test(name)) {
      experts.set(name, { values, shape });
      const { blocks, scales } = quantise(values, shape);
      tensors[`${name}_blocks`] = { dtype: "U8", shape: [shape[0], shape[2], shape[1] / 32, 16], bytes: blocks };
      tensors[`${name}_scales`] = { dtype: "U8", shape: [shape[0], shape[2], shape[1] / 32], bytes: scales };
    } else {
      tensors[name] = { dtype: "F32", shape, data: values };
    }
  }
  source.close();
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  return experts;
}

test("MXFP4 experts read back as their float weights within e2m1 rounding, in transformers' orientation", () => {
  const dir = path.join(work, "quantised");
  const experts = writeMxfp4Checkpoint(dir);
  const checkpoint = openCheckpoint(dir);
  try {
    for (const [name, { values, shape }] of experts) {
      const info = checkpoint.weights.info(name);
      assert.deepEqual(info.shape, shape, name);
      assert.equal(info.quantisation?.type, "MXFP4");
      assert.ok(!checkpoint.weights.has(`${name}_blocks`), "the packed tensors are hidden behind the float name");
      const got = checkpoint.weights.read(name);
      let worst = 0;
      for (let i = 0; i < values.length; i++) {
        // e2m1's widest gap is 2 (between 4 and 6) at scale 2^e ≥ amax/6: the error is at most amax/3 of the block,
        // so at most |value|max/3 of the whole tensor; measured well inside.
        worst = Math.max(worst, Math.abs(got[i] - values[i]));
      }
      const amax = Math.max(...Array.from(values, Math.abs));
      assert.ok(worst <= amax / 3, `${name}: worst error ${worst}, tensor max ${amax}`);
      assert.ok(worst > amax / 100, `${name}: the weights were not quantised at all (error ${worst})`);
    }
  } finally {
    checkpoint.weights.close();
  }
});

test("a gpt-oss MXFP4 checkpoint runs as the float checkpoint of its dequantised experts (the test's own decoding)", async () => {
  const dir = path.join(work, "e2e-mxfp4");
  writeMxfp4Checkpoint(dir);
  // The float twin: every expert written as F32 values decoded here from the packed tensors, following
  // transformers' convert_moe_packed_tensors (low nibble first, ldexp by scale − 127, then transpose(1, 2)).
  const twin = path.join(work, "e2e-float");
  fs.mkdirSync(twin, { recursive: true });
  for (const f of ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "config.json"]) fs.copyFileSync(path.join(FLOAT, f), path.join(twin, f));
  const packed = openWeightSource(dir);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of packed.names()) {
    if (name.endsWith("_scales")) continue;
    if (!name.endsWith("_blocks")) {
      tensors[name] = { dtype: "F32", shape: packed.info(name).shape, data: packed.read(name) };
      continue;
    }
    const base = name.slice(0, -"_blocks".length);
    const [experts, rows, groups] = packed.info(name).shape;
    const blocks = packed.readBytes(name), scales = packed.readBytes(`${base}_scales`);
    const cols = groups * 32;
    const out = new Float32Array(experts * rows * cols);
    for (let e = 0; e < experts; e++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
      const g = (e * rows + r) * groups + Math.floor(c / 32);
      const byte = blocks[g * 16 + Math.floor((c % 32) / 2)];
      const value = E2M1[c % 2 === 0 ? byte & 15 : byte >> 4] * 2 ** (scales[g] - 127);
      out[e * cols * rows + c * rows + r] = value; // [experts, cols, rows]
    }
    tensors[base] = { dtype: "F32", shape: [experts, cols, rows], data: out };
  }
  packed.close();
  writeSafetensors(path.join(twin, "model.safetensors"), tensors);
  const [quantised, float] = [await loadModel(dir, { backend: "cpu" }), await loadModel(twin, { backend: "cpu" })];
  try {
    const a = quantised.run("The quick brown fox"), b = float.run("The quick brown fox");
    assert.deepEqual(a.logits.arraySync(), b.logits.arraySync());
    a.dispose();
    b.dispose();
  } finally {
    quantised.dispose();
    float.dispose();
  }
});

test("MXFP4 tensors with the wrong dtype or mismatched scales are refused naming the tensor", () => {
  const dir = path.join(work, "damaged");
  writeMxfp4Checkpoint(dir);
  const file = path.join(dir, "model.safetensors");
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  const name = "model.layers.0.mlp.experts.down_proj_scales";
  const damaged = (change: (h: any) => void) => {
    const h = JSON.parse(JSON.stringify(header));
    change(h);
    const json = Buffer.from(JSON.stringify(h).padEnd(headerLength, " "));
    assert.equal(json.length, headerLength);
    fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), json, bytes.subarray(8 + headerLength)]));
  };
  damaged((h) => (h[name].dtype = "I8"));
  assert.throws(() => openCheckpoint(dir), (e: any) => e instanceof UnsupportedDtypeError && e.tensor === name);
  damaged((h) => (h[name].shape = [h[name].shape[0], h[name].shape[1] * h[name].shape[2], 1]));
  assert.throws(() => openCheckpoint(dir), (e: any) => e instanceof WeightShapeError && /down_proj_blocks/.test(e.message));
});

test("the MXFP4 fixture dequantised by transformers passes verify()", async () => {
  const model = await loadModel(MXFP4, { backend: "cpu" });
  try {
    const result = await verify(model, path.join(MXFP4, "reference.safetensors"));
    for (const [name, c] of Object.entries(result.tensors)) assert.ok(c!.ok, `${name}: max abs diff ${c!.maxAbsDiff}`);
    assert.ok(result.ok);
  } finally {
    model.dispose();
  }
});
