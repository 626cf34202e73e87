import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { activationPatching } from "../../src/intervene/activation-patching";
import { patchGroups } from "../../src/intervene/patch-groups";
import { AbortError, ArgumentError } from "../../src/errors";
import { activationPatchingChart, show } from "../../src/display";
import { withFakeKernel } from "../display/fake-kernel";
import { ANSWERS, CLEAN, CORRUPTED, lastLogits, model } from "./helpers";

const SUBJECT = 3; // " France" / " Japan"
const LAST = 4; // " is"

test("demo: resid_pre patching moves the fact from the subject to the last position inside layer 0", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const r = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre"] });
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  const grid = r.matrices.resid_pre as number[][];
  assert.equal(grid.length, m.nLayers);
  assert.ok(grid[0][SUBJECT] > 0.8, `layer 0 at the subject: ${grid[0][SUBJECT]}`);
  for (let l = 1; l < m.nLayers; l++) assert.ok(grid[l][SUBJECT] < 0.2, `layer ${l} at the subject: ${grid[l][SUBJECT]}`);
  assert.ok(grid[0][LAST] < 0.2, `layer 0 at the last position: ${grid[0][LAST]}`);
  for (let l = 1; l < m.nLayers; l++) assert.ok(grid[l][LAST] > 0.8, `layer ${l} at the last position: ${grid[l][LAST]}`);
  // The prompts share tokens 0–2: patching them changes nothing, exactly.
  for (let l = 0; l < m.nLayers; l++) for (let p = 0; p < SUBJECT; p++) assert.ok(Math.abs(grid[l][p]) < 1e-5, `layer ${l} position ${p}: ${grid[l][p]}`);
  // At layer 0 the subject is the only difference: patching it there reproduces the clean run.
  assert.ok(Math.abs(grid[0][SUBJECT] - 1) < 1e-4, `layer 0 subject: ${grid[0][SUBJECT]}`);
  assert.ok(r.cleanMetric > 0 && r.corruptedMetric < 0, "clean prefers Paris, corrupted Tokyo");
  assert.deepEqual(r.answers?.clean.token, " Paris");
  assert.equal(r.forwardPasses, 2, "the source run and one batched pass");
});

test("demo: per-head z patching at the last position finds the layer-0 heads", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const r = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["z"], positions: [-1] });
  const z = r.matrices.z as number[][][];
  assert.equal(z.length, 4);
  assert.equal(z[0].length, 8);
  assert.equal(z[0][0].length, 1, "one position column");
  const heads = z.flatMap((layer, l) => layer.map((cols, h) => ({ l, h, v: cols[0] }))).sort((a, b) => b.v - a.v);
  assert.equal(heads[0].l, 0);
  assert.ok(heads[0].v > 0.5, `best head L${heads[0].l}H${heads[0].h}: ${heads[0].v}`);
  for (const { l, h, v } of heads) if (l >= 1) assert.ok(v < 0.1, `L${l}H${h}: ${v}`);
  const pair = await patchGroups(m, {
    clean: CLEAN,
    corrupted: CORRUPTED,
    answers: ANSWERS,
    groups: [heads.slice(0, 2).map(({ l, h }) => ({ hook: "z", layer: l, position: -1, head: h }))],
  });
  assert.ok(pair.metrics[0] > 0.9, `best two heads together: ${pair.metrics[0]}`);
  assert.ok(pair.metrics[0] > heads[0].v, "the pair recovers more than the best head alone");
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
});

test("a grid cell equals the same patch done by hand with runWithHooks", async () => {
  const m = await model();
  const r = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["z", "mlp_out"], layers: [0] });
  const [paris, tokyo] = [m.toTokens(" Paris")[0], m.toTokens(" Tokyo")[0]];
  const clean = m.run(CLEAN, { cache: ["blocks.0.attn.hook_z", "blocks.0.hook_mlp_out"] });
  const diff = (logits: Float32Array) => logits[paris] - logits[tokyo];
  const base = m.run(CORRUPTED);
  const corrupted = diff(lastLogits(base.logits));
  base.dispose();
  const cleanDiff = diff(lastLogits(clean.logits));
  // Head 1 of layer 0 at the last position, by hand.
  const head = m.runWithHooks(CORRUPTED, {
    "blocks.0.attn.hook_z": (z) => {
      const cz = clean.cache.get("blocks.0.attn.hook_z");
      const mask = tf.buffer([1, 5, 8, 1]);
      mask.set(1, 0, LAST, 1, 0);
      return tf.where(tf.broadcastTo(tf.greater(mask.toTensor(), 0), z.shape), cz, z);
    },
  });
  const headDiff = diff(lastLogits(head.logits));
  head.dispose();
  const mlp = m.runWithHooks(CORRUPTED, {
    "blocks.0.hook_mlp_out": (x) => tf.concat([x.slice([0, 0, 0], [1, SUBJECT, -1]), clean.cache.get("blocks.0.hook_mlp_out").slice([0, SUBJECT, 0], [1, 1, -1]), x.slice([0, LAST, 0], [1, 1, -1])], 1),
  });
  const mlpDiff = diff(lastLogits(mlp.logits));
  mlp.dispose();
  clean.dispose();
  const cell = (component: string, pred: (row: Record<string, unknown>) => boolean) =>
    (r.table.objects() as Record<string, unknown>[]).filter((row) => row.component === component && pred(row));
  const [z] = cell("z", (row) => row.layer === 0 && row.head === 1 && row.position === LAST);
  const [mo] = cell("mlp_out", (row) => row.layer === 0 && row.position === SUBJECT);
  assert.ok(Math.abs((z.value as number) - headDiff) < 1e-3, `z cell ${z.value} vs by hand ${headDiff}`);
  assert.ok(Math.abs((z.metric as number) - (headDiff - corrupted) / (cleanDiff - corrupted)) < 1e-4);
  assert.ok(Math.abs((mo.value as number) - mlpDiff) < 1e-3, `mlp_out cell ${mo.value} vs by hand ${mlpDiff}`);
  assert.ok(Math.abs(r.cleanMetric - cleanDiff) < 1e-3 && Math.abs(r.corruptedMetric - corrupted) < 1e-3);
  assert.equal(z.input_token, " is");
  assert.equal(mo.input_token, " Japan", "input_token: the patched (corrupted) run's token");
  assert.equal(mo.source_token, " France", "source_token: the patched-in (clean) run's token");
});

test("batching: any batch size gives the same grid; passes = source + ceil(rows / batch)", async () => {
  const m = await model();
  const opts = { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre", "attn_out", "z_all"] as const };
  const one = await activationPatching(m, { ...opts, components: [...opts.components] });
  const progress: number[] = [];
  const chunked = await activationPatching(m, { ...opts, components: [...opts.components], batchSize: 7, onProgress: (p) => progress.push(p.done) });
  const rows = 2 * 4 * 5 + 4 * 8 + 1;
  assert.equal(chunked.forwardPasses, 1 + Math.ceil(rows / 7));
  assert.equal(progress.length, Math.ceil(rows / 7));
  assert.equal(progress[progress.length - 1], rows);
  const a = one.table.array("value") as number[];
  const b = chunked.table.array("value") as number[];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-3, `cell ${i}: ${v} vs ${b[i]}`));
  assert.equal((one.matrices.z_all as number[][])[0].length, 8);
  assert.equal(one.table.numRows(), rows - 1);
});

test("noise direction: corrupting the subject at layer 0 destroys the clean answer", async () => {
  const m = await model();
  const r = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre"], direction: "noise" });
  const grid = r.matrices.resid_pre as number[][];
  assert.ok(Math.abs(grid[0][SUBJECT]) < 1e-4, `patched-in corrupted subject gives the corrupted metric: ${grid[0][SUBJECT]}`);
  assert.ok(Math.abs(grid[0][0] - 1) < 1e-5, "a shared token changes nothing: the clean metric");
  assert.ok(grid[2][LAST] < 0.2, "corrupting the last position after layer 0 breaks the answer");
});

test("the heatmaps are built from the table", async () => {
  const m = await model();
  const r = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre", "z", "z_all"], positions: [3, 4] });
  for (const c of ["resid_pre", "z", "z_all"] as const) {
    const chart = activationPatchingChart(r, c);
    const data = (chart.spec.data as { values: unknown[] }).values;
    assert.equal(data.length, r.table.filter(`d => d.component === '${c}'`).numRows(), c);
  }
  assert.throws(() => activationPatchingChart(r, "mlp_out"), ArgumentError);
});

test("show(result) shows every patched component: one concatenated chart, one display message", async () => {
  const m = await model();
  const components = ["resid_pre", "attn_out", "mlp_out", "z"] as const;
  const r = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: [...components], positions: [3, 4] });
  const all = activationPatchingChart(r);
  const panels = all.spec.vconcat as { title: string; data: { values: unknown[] } }[];
  assert.equal(panels.length, components.length, "one panel per component");
  for (const [i, c] of components.entries()) {
    assert.equal(panels[i].data.values.length, r.table.filter(`d => d.component === '${c}'`).numRows(), c);
    assert.match(panels[i].title, new RegExp(`of ${c}:`));
  }
  const svg = all.toSvg();
  for (const c of components) assert.ok(svg.includes(`of ${c}:`), `the rendered chart draws the ${c} panel`);
  withFakeKernel((sent) => {
    show(r);
    assert.equal(sent.length, 1, "one display message for all the heatmaps");
    assert.equal(String(sent[0].data["text/plain"]).split("\n")[0], all.summary);
    const spec = sent[0].data["application/vnd.vegalite.v5+json"] as { vconcat: unknown[] };
    assert.equal(spec.vconcat.length, components.length);
  });
  const one = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre"], layers: [0], positions: [4] });
  assert.equal(activationPatchingChart(one).spec.vconcat, undefined, "a single component stays a plain heatmap");
});

test("bad input: unequal lengths name both; unknown components, answers and aborts are typed errors", async () => {
  const m = await model();
  await assert.rejects(activationPatching(m, { clean: CLEAN, corrupted: "The capital of the United States is", answers: ANSWERS }), (e: unknown) => {
    assert.ok(e instanceof ArgumentError);
    assert.match((e as Error).message, /corrupted.*has \d+ tokens but clean has 5/);
    return true;
  });
  await assert.rejects(activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid" as never] }), ArgumentError);
  await assert.rejects(activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: [" Paris", " Paris and"] }), /answers\[1\]/);
  await assert.rejects(activationPatching(m, { clean: CLEAN, corrupted: CLEAN, answers: ANSWERS }), /same metric/);
  await assert.rejects(activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, positions: [9] }), /positions/);
  const controller = new AbortController();
  const before = tf.memory().numTensors;
  await assert.rejects(
    activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, batchSize: 4, onProgress: () => controller.abort(), signal: controller.signal }),
    AbortError,
  );
  assert.equal(tf.memory().numTensors, before, "an abort frees what it held");
});
