// Attribution patching on the demo model's France → Japan pair: the same grid and table as activation patching,
// each cell equal to the first-order effect of moving that activation towards the clean run (checked by a central
// difference of real patched runs), and the comparison's statistics.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { activationPatching, type PatchComponent } from "../../src/intervene/activation-patching";
import { attributionPatching } from "../../src/intervene/attribution-patching";
import { compareAttribution, pearson, spearman } from "../../src/intervene/patching-comparison";
import { ArgumentError } from "../../src/errors";
import { model } from "./helpers";
import { attributionComparisonChart } from "../../src/display/charts/patching";

const CLEAN = "The capital of France is";
const CORRUPTED = "The capital of Japan is";
const ANSWERS: [string, string] = [" Paris", " Tokyo"];
const COMPONENTS: PatchComponent[] = ["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "z"];

test("demo: attribution patching has activation patching's grid and ranks its cells alike", async () => {
  const m = await model();
  const before = tf.memory().numTensors;
  const opts = { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: COMPONENTS };
  const exact = await activationPatching(m, opts);
  const approx = await attributionPatching(m, opts);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(approx.forwardPasses, 2);
  assert.deepEqual(approx.table.columnNames(), exact.table.columnNames());
  assert.equal(approx.table.numRows(), exact.table.numRows());
  assert.deepEqual(approx.table.array("position"), exact.table.array("position"));
  assert.ok(Math.abs(approx.cleanMetric - exact.cleanMetric) < 1e-3 && Math.abs(approx.corruptedMetric - exact.corruptedMetric) < 1e-3);
  // The shared prefix (positions 0–2) has identical activations: no effect, exactly, in both.
  const pos = approx.table.array("position") as (number | null)[];
  const metric = approx.table.array("metric") as number[];
  pos.forEach((p, i) => p !== null && p < 3 && assert.ok(Math.abs(metric[i]) < 1e-6, `cell ${i} at shared position ${p}: ${metric[i]}`));

  const cmp = compareAttribution(exact, approx);
  assert.ok(cmp.spearman > 0.95, `Spearman ${cmp.spearman}`);
  assert.ok(cmp.byComponent.attn_out!.spearman > 0.95);
  // Where it fails: the large effects are underestimated (the logit difference saturates as the answer flips).
  const failures = cmp.failures.objects() as Array<{ exact: number; error: number }>;
  assert.ok(failures.length > 0, "some cells exceed the threshold");
  for (const f of failures) assert.ok(f.exact > 0.4 && f.error < 0, `failing cell: exact ${f.exact}, error ${f.error}`);
  const errs = failures.map((f) => Math.abs(f.error));
  assert.deepEqual(errs, [...errs].sort((a, b) => b - a), "worst first");
  const chart = attributionComparisonChart(cmp);
  assert.match(chart.summary, /Spearman/);
});

test("demo: each cell is the first-order effect of the patch (central difference of real patched runs)", async () => {
  const m = await model();
  const approx = await attributionPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["mlp_out", "z"], layers: [2] });
  const rows = approx.table.objects() as Array<{ component: string; layer: number; head: number | null; position: number; value: number }>;
  const [paris, tokyo] = [m.toTokens(" Paris")[0], m.toTokens(" Tokyo")[0]];
  const clean = m.run(CLEAN, { cache: ["blocks.2.hook_mlp_out", "blocks.2.attn.hook_z"] });
  const diffOf = (hook: string, position: number, head: number | null, eps: number) => {
    const r = m.runWithHooks(CORRUPTED, {
      [hook]: (x) => {
        // x + ε (clean − x) at one position (and head).
        const shape = x.shape.map((s, i) => (i === 1 ? 1 : i === 2 && head !== null ? 1 : s));
        const begin = x.shape.map((_, i) => (i === 1 ? position : i === 2 && head !== null ? head : 0));
        const onehot = tf.pad(tf.ones(shape), x.shape.map((s, i) => [begin[i], s - begin[i] - shape[i]] as [number, number]));
        return tf.add(x, tf.mul(tf.mul(onehot, eps), tf.sub(clean.cache.get(hook), x)));
      },
    });
    const last = r.logits.slice([0, 4, 0], [1, 1, -1]).dataSync();
    r.dispose();
    return last[paris] - last[tokyo];
  };
  const base = approx.corruptedMetric;
  const eps = 0.05;
  let checked = 0;
  let largest = 0;
  for (const row of rows.filter((r) => r.position === 4)) {
    const hook = row.component === "z" ? "blocks.2.attn.hook_z" : "blocks.2.hook_mlp_out";
    const slope = (diffOf(hook, 4, row.head, eps) - diffOf(hook, 4, row.head, -eps)) / (2 * eps);
    const estimate = row.value - base;
    largest = Math.max(largest, Math.abs(slope));
    assert.ok(Math.abs(slope - estimate) < 2e-2 * Math.max(0.1, Math.abs(slope)), `${row.component} head ${row.head}: attribution ${estimate}, slope of patched runs ${slope}`);
    checked++;
  }
  clean.dispose();
  assert.equal(checked, 1 + 8);
  assert.ok(largest > 0.5, `the checked effects are not all negligible (largest slope ${largest})`);
});

test("rank and linear correlation, ties and errors", () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
  assert.ok(Math.abs(spearman([1, 2, 3], [3, 2, 1]) + 1) < 1e-12);
  assert.ok(Math.abs(spearman([1, 1, 2], [5, 5, 9]) - 1) < 1e-12, "tied values share their mean rank");
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6.5]) - 0.9986) < 1e-3);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
});

test("comparison refuses results it cannot pair", async () => {
  const m = await model();
  const a = await attributionPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["attn_out"] });
  const b = await attributionPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["mlp_out"] });
  const noise = await attributionPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["attn_out"], direction: "noise" });
  assert.throws(() => compareAttribution(a, b), (e: unknown) => e instanceof ArgumentError && e.argument === "attribution");
  assert.throws(() => compareAttribution(a, noise), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => compareAttribution(a, a, { threshold: 0 }), (e: unknown) => e instanceof ArgumentError && e.argument === "threshold");
});
