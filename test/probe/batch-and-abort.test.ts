// Probes asked for a sequence the run does not have get a typed error naming `batch` (never cosines of
// nothing or a raw kernel error), and a lens given a signal or a progress callback works in several chunks,
// so that cancelling stops it and progress is reported while it runs.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { AbortError, ArgumentError } from "../../src/errors";
import { attentionPatterns } from "../../src/probe/attention";
import { directLogitAttribution } from "../../src/probe/direct-logit-attribution";
import { layerSimilarity } from "../../src/probe/layer-similarity";
import { logitLens } from "../../src/probe/logit-lens";
import { model } from "./models";

const PROMPT = "The capital of France is";
const namesBatch = (e: unknown) => e instanceof ArgumentError && e.argument === "batch" && /1 sequence/.test(e.message);

test("a batch index past the run's sequences is an ArgumentError naming batch, and leaks nothing", async () => {
  const m = await model("demo");
  const baseline = tf.memory().numTensors;
  await assert.rejects(logitLens(m, PROMPT, { batch: 3 }), namesBatch);
  await assert.rejects(layerSimilarity(m, PROMPT, { batch: 3 }), namesBatch);
  await assert.rejects(directLogitAttribution(m, PROMPT, { target: " Paris", batch: 4 }), namesBatch);
  await assert.rejects(attentionPatterns(m, PROMPT, { batch: 2 }), namesBatch);
  assert.equal(tf.memory().numTensors, baseline);
});

test("with a progress callback the lens reports several times; with an aborted signal it stops", async () => {
  const m = await model("demo");
  const progress: number[] = [];
  await logitLens(m, PROMPT, { onProgress: (p) => progress.push(p.done) });
  assert.ok(progress.length >= 3, `progress reported ${progress.length} time(s): ${progress}`);
  const baseline = tf.memory().numTensors;
  const controller = new AbortController();
  const running = logitLens(m, PROMPT, { signal: controller.signal });
  controller.abort();
  await assert.rejects(running, (e: unknown) => e instanceof AbortError);
  assert.equal(tf.memory().numTensors, baseline);
});

test("options outside their range are ArgumentErrors naming the option", async () => {
  const m = await model("demo");
  const baseline = tf.memory().numTensors;
  const names = (arg: string) => (e: unknown) => e instanceof ArgumentError && e.argument === arg;
  await assert.rejects(logitLens(m, PROMPT, { streams: ["foo" as "resid_post"] }), names("streams"));
  await assert.rejects(directLogitAttribution(m, PROMPT, { topNeurons: -3 }), names("topNeurons"));
  await assert.rejects(layerSimilarity(m, PROMPT, { perPosition: "x" as "all" }), names("perPosition"));
  await assert.rejects(attentionPatterns(m, PROMPT, { heads: [99] }), names("heads"));
  assert.equal(tf.memory().numTensors, baseline);
});
