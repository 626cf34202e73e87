// `lmprobe probe`: the standalone report holds every analysis (logit lens to head types and direct logit
// attribution), and an --out that cannot be written is refused before any model is loaded.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { checkOutPath, run } from "../../src/cli/probe";
import { probeSections, probeStages } from "../../src/cli/probe-sections";
import { Chart } from "../../src/display/chart";
import { reportHtml } from "../../src/display/report";
import { ArgumentError } from "../../src/errors";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";

const PROMPT = "The capital of France is";
const TITLES = [
  "Logit lens",
  "Token probabilities",
  "Layer similarity",
  "Residual norms",
  "Attention",
  "Attention head types",
  "Direct logit attribution",
  "Token attribution",
];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-probe-cli-"));
let model: LanguageModel;
before(async () => {
  model = await loadModel("demo", { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" });
});
after(() => {
  model?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("the report has every section, in order, each announced to the progress bar", async () => {
  const stages: string[] = [];
  const before = tf.memory().numTensors;
  const sections = await probeSections(model, { prompt: PROMPT, k: 3, targets: [], onStage: (s) => stages.push(s) });
  assert.equal(tf.memory().numTensors, before, "probing leaves no tensor behind");
  assert.deepEqual(sections.map((s) => s.title), TITLES);
  assert.deepEqual(stages, probeStages(model), "every stage reported, in the order the bar expects");

  const byTitle = new Map(sections.map((s) => [s.title, s]));
  const charts = (title: string) => byTitle.get(title)!.items.filter((i): i is Chart => i instanceof Chart);

  // Head types: one chart with a panel per score over every layer × head, and the scores table.
  const [headTypes] = charts("Attention head types");
  const panels = headTypes.spec.concat as { data: { values: { layer: number; head: number; score: number }[] } }[];
  assert.equal(panels.length, 4, "previous-token, first-token, induction, duplicate-token panels");
  for (const panel of panels) {
    assert.equal(panel.data.values.length, model.config.numLayers * model.config.numHeads);
    for (const v of panel.data.values) assert.ok(v.score >= -1e-6 && v.score <= 1 + 1e-6, "scores are attention fractions");
  }
  // The demo model has a previous-token head and, after it, an induction head (the attention notebook's claim).
  const best = (i: number) => Math.max(...panels[i].data.values.map((v) => v.score));
  assert.ok(best(0) > 0.5, `a previous-token head (best ${best(0)})`);
  assert.ok(best(2) > 0.3, `an induction head (best ${best(2)})`);

  // Direct logit attribution to the predicted token " Paris": bars per component that sum to its logit.
  const dla = byTitle.get("Direct logit attribution")!;
  assert.match(dla.intro!, /" Paris"/);
  const [bars, heads] = charts("Direct logit attribution");
  const parts = (bars.spec.data as { values: { part: string; contribution: number }[] }).values;
  assert.deepEqual(parts.map((p) => p.part), ["embedding", ...Array.from({ length: model.config.numLayers }, (_, l) => [`L${l} attn`, `L${l} mlp`]).flat(), "biases"]);
  const total = parts.reduce((s, p) => s + p.contribution, 0);
  const logits = model.run(PROMPT);
  const last = logits.tokens[0].length - 1;
  const row = tf.tidy(() => logits.logits.slice([0, last, 0], [1, 1, -1]).reshape([-1]).arraySync() as number[]);
  logits.dispose();
  const paris = model.toTokens(" Paris")[0];
  assert.equal(row.indexOf(Math.max(...row)), paris, "the model predicts Paris");
  assert.ok(Math.abs(total - row[paris]) < 1e-2 * Math.max(1, Math.abs(row[paris])), `contributions sum to the logit (${total} vs ${row[paris]})`);
  assert.ok(heads instanceof Chart, "a per-head chart");
  assert.equal((heads.spec.data as { values: unknown[] }).values.length, model.config.numLayers * model.config.numHeads);

  // Token attribution of the top prediction: a chart over the prompt's tokens and a table; completeness stated.
  const attribution = byTitle.get("Token attribution")!;
  assert.match(attribution.intro!, /" Paris"/);
  assert.match(attribution.intro!, /relative error/);
  assert.equal(charts("Token attribution").length, 1);

  // The HTML report shows every section title in its navigation and as a heading.
  const html = reportHtml({ title: "t", sections, interactive: false });
  for (const title of TITLES) {
    assert.ok(html.includes(`<h2>${title}</h2>`), `heading ${title}`);
    assert.ok(html.includes(`">${title}</a>`), `navigation link ${title}`);
  }
});

test("--out into a missing folder is refused before the model loads, naming the path and the fix", async () => {
  const missing = path.join(tmp, "no-such-dir", "report.html");
  // A model that does not exist: had the model loaded first, the error would be about it.
  await assert.rejects(run(["--model", path.join(tmp, "no-model"), "--prompt", PROMPT, "--out", missing]), (e: unknown) => {
    assert.ok(e instanceof ArgumentError);
    assert.equal(e.argument, "--out");
    assert.ok(e.message.includes(path.dirname(missing)), e.message);
    assert.match(e.message, /does not exist[\s\S]*fix: create it first \(mkdir -p/);
    return true;
  });
  assert.throws(() => checkOutPath(tmp), /which is a folder/);
  const file = path.join(tmp, "plain-file");
  fs.writeFileSync(file, "x");
  assert.throws(() => checkOutPath(path.join(file, "report.html")), /is not a folder/);
  checkOutPath(path.join(tmp, "report.html")); // an existing, writable folder passes
});
