// Interventions return tables and plain results, like the probes; display/ draws them. No file of intervene/
// imports display/, results carry no functions, and show() dispatches on the result's kind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { activationPatching } from "../../src/intervene/activation-patching";
import { causalTrace } from "../../src/intervene/causal-trace";
import { activationPatchingChart, causalTraceChart, show } from "../../src/display";
import { withFakeKernel } from "../display/fake-kernel";
import { ANSWERS, CLEAN, CORRUPTED, model } from "./helpers";

const INTERVENE = path.join(__dirname, "..", "..", "src", "intervene");

test("no file of intervene/ imports display/ (type-only imports included)", () => {
  for (const file of readdirSync(INTERVENE).filter((f) => f.endsWith(".ts"))) {
    const source = readFileSync(path.join(INTERVENE, file), "utf8");
    assert.doesNotMatch(source, /from\s+["']\.\.\/display/, `${file} imports display/`);
  }
});

test("patching and causal-trace results are plain data; show() draws them by kind as one message", async () => {
  const m = await model();
  const patch = await activationPatching(m, { clean: CLEAN, corrupted: CORRUPTED, answers: ANSWERS, components: ["resid_pre", "z"], positions: [3, 4] });
  const trace = await causalTrace(m, CLEAN, { subject: "France", samples: 1 });
  for (const [name, result] of [["patching", patch], ["causal trace", trace]] as const) {
    assert.ok(Object.values(result).every((v) => typeof v !== "function"), `${name}: no methods, no charts`);
    assert.deepEqual(JSON.parse(JSON.stringify({ kind: result.kind })), { kind: result.kind }, "the kind survives serialisation");
  }
  assert.equal(patch.kind, "activation-patching");
  assert.equal(trace.kind, "causal-trace");
  withFakeKernel((sent) => {
    show(patch);
    show(trace);
    assert.equal(sent.length, 2, "one display message each");
    assert.equal(String(sent[0].data["text/plain"]).split("\n")[0], activationPatchingChart(patch).summary);
    assert.equal(String(sent[1].data["text/plain"]).split("\n")[0], causalTraceChart(trace).summary);
    const spec = sent[1].data["application/vnd.vegalite.v5+json"] as { data: { values: unknown[] } };
    assert.equal(spec.data.values.length, trace.table.numRows(), "the trace heatmap is drawn from its table");
  });
  // A plain copy of the result is drawn the same: show() needs its kind and data, no prototype or method.
  withFakeKernel((sent) => {
    show({ ...trace });
    assert.equal(String(sent[0].data["text/plain"]).split("\n")[0], causalTraceChart(trace).summary);
  });
});
