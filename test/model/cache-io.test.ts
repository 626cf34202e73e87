import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadCache, saveCache } from "../../src/model/cache-io";
import { logitLensFromCache, logitLensHooks } from "../../src/probe/logit-lens";
import { SafetensorsFile } from "../../src/io/safetensors";
import { model } from "../probe/models";

test("an ActivationCache saves to safetensors and loads back identical, int32 expert indices included", async () => {
  const m = await model("qwen3_moe");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-cache-"));
  const file = path.join(dir, "cache.safetensors");
  const names = [...logitLensHooks(m.config.numLayers), "blocks.0.attn.hook_pattern", "blocks.1.mlp.hook_expert_indices"];
  const run = m.run("hello there world", { cache: names });
  const before = tf.memory().numTensors;
  await saveCache(run.cache, file);
  // Python-readable: plain safetensors, names as hook names.
  const st = SafetensorsFile.open(file);
  assert.deepEqual(st.names(), [...names].sort());
  assert.equal(st.entry("blocks.1.mlp.hook_expert_indices").dtype, "I32");
  st.close();
  const loaded = loadCache(file);
  assert.deepEqual(loaded.names(), run.cache.names());
  assert.equal(loaded.nLayers, m.config.numLayers);
  for (const n of names) {
    const a = run.cache.get(n);
    const b = loaded.get(n);
    assert.deepEqual(b.shape, a.shape);
    assert.equal(b.dtype, a.dtype);
    assert.deepEqual(Array.from(await b.data()), Array.from(await a.data()), n);
  }
  const tokens = run.tokens[0];
  const fromRun = await logitLensFromCache(m, run.cache, tokens, { k: 3 });
  const fromFile = await logitLensFromCache(m, loaded, tokens, { k: 3 });
  assert.deepEqual(fromFile.table.objects(), fromRun.table.objects());
  loaded.dispose();
  run.dispose();
  assert.ok(tf.memory().numTensors <= before);
  fs.rmSync(dir, { recursive: true });
});
