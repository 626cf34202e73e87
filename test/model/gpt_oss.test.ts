import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { UnsupportedDtypeError } from "../../src/errors";
import { normalizeConfig } from "../../src/io/config";
import { SafetensorsFile } from "../../src/io/safetensors";
import type { WeightSource } from "../../src/io/weight-source";
import { convertGptOss } from "../../src/model/architectures/gpt_oss";
import type { MoeWeights } from "../../src/model/components/moe";
import { assertParity, FIXTURES, withFixtureModel } from "./fixture-parity";

const DIR = path.join(FIXTURES, "generated/gpt_oss");
const PROMPT = "When Mary and John went to the store, John gave a book to";

test("gpt_oss matches the reference (sinks, sliding window, YaRN, clamped SwiGLU experts) on wasm and cpu", async (t) => {
  await assertParity(t, DIR, { moe: true });
});

test("attention sinks take probability mass: pattern rows sum to less than one", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const r = model.run(PROMPT, { cache: ["pattern"] });
    const sums = tf.tidy(() => tf.sum(r.cache.get("pattern", 0), -1).dataSync());
    assert.ok(Math.max(...sums) < 1 && Math.min(...sums) > 0, `row sums between ${Math.min(...sums)} and ${Math.max(...sums)}`);
    r.dispose();
  });
});

test("experts' gate and up come from the even and odd columns of the fused gate_up_proj", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const file = SafetensorsFile.open(path.join(DIR, "model.safetensors"));
    const fused = file.readFloat32("model.layers.1.mlp.experts.gate_up_proj"); // [E=4, d=64, 2·64]
    const bias = file.readFloat32("model.layers.1.mlp.experts.gate_up_proj_bias"); // [4, 128]
    file.close();
    const expert = (model.weights.blocks[1].mlp as MoeWeights).experts[2];
    const gate = expert.W_gate.arraySync();
    const up = expert.W_in.arraySync();
    const at = (row: number, col: number) => fused[2 * 64 * 128 + row * 128 + col];
    for (const [row, j] of [[0, 0], [5, 7], [63, 63]]) {
      assert.equal(gate[row][j], at(row, 2 * j));
      assert.equal(up[row][j], at(row, 2 * j + 1));
    }
    assert.equal(expert.b_gate!.arraySync()[3], bias[2 * 128 + 6]);
    assert.equal(expert.b_in!.arraySync()[3], bias[2 * 128 + 7]);
  });
});

test("the fixture exercises the SwiGLU clamp: lifting the limit moves the logits", async () => {
  await withFixtureModel(DIR, "wasm", (model) => {
    const blocks = model.weights.blocks.map((b) => b.mlp as MoeWeights);
    const logits = () => {
      const r = model.run(PROMPT);
      const v = r.logits.dataSync().slice();
      r.dispose();
      return v;
    };
    const clamped = logits();
    const saved = blocks.map((m) => m.glu);
    blocks.forEach((m) => (m.glu = { kind: "clamped-swiglu", alpha: 1.702, limit: 1e9 }));
    const unclamped = logits();
    blocks.forEach((m, i) => (m.glu = saved[i]));
    let worst = 0;
    for (let i = 0; i < clamped.length; i++) worst = Math.max(worst, Math.abs(clamped[i] - unclamped[i]));
    assert.ok(worst > 0.1, `removing the clamp changed the logits by only ${worst}`);
  });
});

test("MXFP4-quantised checkpoints are refused with an error naming the tensor and what to do", () => {
  const config = normalizeConfig(JSON.parse(require("node:fs").readFileSync(path.join(DIR, "config.json"), "utf8")), "config.json");
  const names = ["model.layers.0.mlp.experts.gate_up_proj_blocks", "model.layers.0.mlp.experts.gate_up_proj_scales"];
  const quantised: WeightSource = {
    origin: "/ckpt",
    names: () => names,
    has: (n) => names.includes(n),
    info: (n) => ({ name: n, dtype: "U8", shape: [4, 128, 2, 16], file: "/ckpt/model.safetensors" }),
    read: () => {
      throw new Error("a quantised tensor must not be read");
    },
    close: () => {},
  };
  assert.throws(
    () => convertGptOss(config, quantised),
    (e: unknown) => e instanceof UnsupportedDtypeError && /gate_up_proj_blocks/.test(e.message) && /MXFP4/.test(e.message) && /not supported yet/.test(e.message),
  );
});
