// Every chart carries its explainer; charts and tables carry the provenance of the model that made them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EXPLAINERS, bundleOf, logitLensChart, residualNormChart } from "../../src/display";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { provenance } from "../../src/model/provenance";
import { logitLens } from "../../src/probe/logit-lens";
import { residualNorms } from "../../src/probe/residual";

test("charts carry their explainer; charts and tables the one loaded model's provenance, or the named model's", async () => {
  const m = (await loadModel("demo", { backend: "wasm" })) as LanguageModel;
  const p = await provenance(m);
  const lens = await logitLens(m, "The capital of France is", { k: 3 });
  const bundle = bundleOf(logitLensChart(lens.table));
  assert.ok((bundle["text/html"] as string).includes("What this shows"), "explainer in the HTML");
  assert.ok((bundle["text/plain"] as string).includes(`What this shows: ${EXPLAINERS.logitLensChart}`), "explainer in the text");
  assert.ok((bundle["text/plain"] as string).includes(`weights ${p.weights.sha256.slice(0, 12)}`), "provenance line in the text");
  assert.match(bundle["text/html"] as string, /class="lmprobe-provenance"[\s\S]*&quot;sha256&quot;/, "full record behind the toggle, escaped");
  const table = bundleOf((await residualNorms(m, "The capital of France is")).summary);
  assert.ok((table["text/plain"] as string).includes("Made with lmprobe"), "tables carry it too");

  // A second model: whose numbers these are is ambiguous, so nothing is claimed unless the model is named.
  const other = (await loadModel("demo", { backend: "wasm" })) as LanguageModel;
  await provenance(other);
  const ambiguous = bundleOf(residualNormChart((await residualNorms(m, "The capital")).table));
  assert.doesNotMatch(ambiguous["text/plain"] as string, /Made with/);
  const named = bundleOf(residualNormChart((await residualNorms(m, "The capital")).table), { model: m });
  assert.match(named["text/plain"] as string, /Made with lmprobe .* demo model/);
  other.dispose();
  assert.match(bundleOf(residualNormChart((await residualNorms(m, "The capital")).table))["text/plain"] as string, /Made with/, "back to one model");
});

test("every chart builder has an explainer", async () => {
  const charts = await import("../../src/display/charts");
  const builders = Object.keys(charts).filter((k) => k.endsWith("Chart") && typeof (charts as Record<string, unknown>)[k] === "function");
  for (const b of builders) assert.ok(EXPLAINERS[b], `${b} has an explainer`);
});
