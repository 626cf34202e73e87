import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { splitColumns } from "../../src/model/architectures/phi3";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";
import { onEachBackend } from "../tensor/reference";

test("phi3 (fused qkv and gate_up, sliding window) matches the reference on wasm and cpu", async (t) => {
  await assertParity(t, path.join(FIXTURES, "generated/phi3"), { moe: false });
});

test("phi3 with LongRoPE and partial rotary (Phi-4-mini style) matches the reference on wasm and cpu", async (t) => {
  await assertParity(t, path.join(FIXTURES, "generated/phi3-longrope"), { moe: false });
});

test("splitColumns cuts a fused [in, q|k|v] matrix into consecutive column blocks", async () => {
  await onEachBackend(() => {
    // 2 inputs; q has 3 columns, k and v 1 each: columns 0-2, 3, 4.
    const fused = tf.tensor2d([
      [0, 1, 2, 3, 4],
      [10, 11, 12, 13, 14],
    ]);
    const [q, k, v] = splitColumns(fused as tf.Tensor2D, [3, 1, 1]);
    assert.deepEqual(q.arraySync(), [[0, 1, 2], [10, 11, 12]]);
    assert.deepEqual(k.arraySync(), [[3], [13]]);
    assert.deepEqual(v.arraySync(), [[4], [14]]);
    tf.dispose([fused, q, k, v]);
  });
});

test("phi3's converter puts qkv_proj rows q, then k, then v, and gate_up_proj's gate half first", async () => {
  const dir = path.join(FIXTURES, "generated/phi3");
  await withFixtureModel(dir, "wasm", async (model) => {
    const { SafetensorsFile } = await import("../../src/io/safetensors");
    const file = SafetensorsFile.open(path.join(dir, "model.safetensors"));
    const qkv = file.readFloat32("model.layers.0.self_attn.qkv_proj.weight"); // [64 + 32 + 32, 64] as [out, in]
    const gateUp = file.readFloat32("model.layers.0.mlp.gate_up_proj.weight"); // [256, 64]
    file.close();
    const { attn, mlp } = model.weights.blocks[0];
    const row = (m: Float32Array, out: number, inp: number) => m[out * 64 + inp];
    // Canonical matrices are [in, out]: W[in][out] = torch weight[out][in].
    assert.equal(attn.W_Q.arraySync()[5][63], row(qkv, 63, 5));
    assert.equal(attn.W_K.arraySync()[5][0], row(qkv, 64, 5));
    assert.equal(attn.W_V.arraySync()[7][31], row(qkv, 127, 7));
    assert.ok(mlp.kind === "dense");
    assert.equal(mlp.W_gate!.arraySync()[2][127], row(gateUp, 127, 2));
    assert.equal(mlp.W_in.arraySync()[2][0], row(gateUp, 128, 2));
  });
});

test("LongRoPE: 12 of 16 head dims rotate, short factors within the original context, long ones past it", async () => {
  await withFixtureModel(path.join(FIXTURES, "generated/phi3-longrope"), "wasm", (model) => {
    const rotary = model.weights.blocks[0].attn.rotary!;
    assert.equal(rotary.rotaryDim, 12);
    // max_position_embeddings 256 over original 64: factor 4, scaling √(1 + ln 4 / ln 64).
    assert.ok(Math.abs(rotary.attentionScaling - Math.sqrt(1 + Math.log(4) / Math.log(64))) < 1e-7);
    const short = [1.0, 1.3, 1.9, 2.6, 4.1, 7.5];
    const long = [1.2, 2.0, 3.5, 6.0, 9.0, 16.0];
    const expected = (f: number[]) => f.map((fi, i) => 1 / (fi * 10000 ** ((2 * i) / 12)));
    const within = rotary.invFreqFor!(64).invFreq;
    const past = rotary.invFreqFor!(65).invFreq;
    expected(short).forEach((v, i) => assert.ok(Math.abs(within[i] - v) <= 1e-6 * v, `short ${i}`));
    expected(long).forEach((v, i) => assert.ok(Math.abs(past[i] - v) <= 1e-6 * v, `long ${i}`));
  });
});
