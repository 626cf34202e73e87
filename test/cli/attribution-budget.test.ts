// The report's token attribution within a budget of work: integrated gradients (65 forward and backward passes by
// default) where they fit it, saliency and input × gradient alone past it, with a note saying how to ask for them;
// lmprobe probe --attribution-steps overrides the rule. On two cores a 1B model's report over 636 tokens was still
// in integrated gradients after 20 minutes; its whole report without them took 3.5 minutes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ATTRIBUTION_FLOP_BUDGET, attributionSteps, tokenAttributionSection } from "../../src/cli/attribution-section";
import { parseProbeArgs } from "../../src/cli/probe";
import { prefillFlops } from "../../src/probe/model-overview";
import { ArgumentError } from "../../src/errors";
import { model } from "../gradients/helpers";

const PROMPT = "The capital of France is";

test("attributionSteps: 64 steps within the budget, none past it, the asked number always", async () => {
  const m = await model();
  const small = attributionSteps(m, 5);
  assert.equal(small.steps, 64);
  assert.equal(small.flops, 3 * 65 * prefillFlops(m, 5));
  assert.equal(small.budget, ATTRIBUTION_FLOP_BUDGET.host, "the demo runs on a host backend here");
  // Positions whose 65 passes exceed the budget (the demo's prefill grows at least linearly with them).
  let T = 5;
  while (3 * 65 * prefillFlops(m, T) <= ATTRIBUTION_FLOP_BUDGET.host) T *= 2;
  assert.equal(attributionSteps(m, T).steps, 0);
  assert.equal(attributionSteps(m, Math.max(1, T / 4)).steps, 64, "a quarter of that length fits again");
  assert.equal(attributionSteps(m, T, 8).steps, 8);
  assert.equal(attributionSteps(m, 5, 0).steps, 0);
});

test("past the budget the section shows saliency and input × gradient and says how to get integrated gradients", async () => {
  const m = await model();
  const saved = ATTRIBUTION_FLOP_BUDGET.host;
  try {
    ATTRIBUTION_FLOP_BUDGET.host = 1;
    const over = await tokenAttributionSection(m, PROMPT);
    const note = over.items.find((i) => typeof i === "object" && i !== null && "note" in i) as { note: string } | undefined;
    assert.ok(note && /Integrated gradients left out/.test(note.note) && /--attribution-steps 64/.test(note.note) && /over 5 tokens/.test(note.note), JSON.stringify(note));
    const table = over.items.find((i) => typeof i === "object" && i !== null && "table" in i) as { table: { columnNames(): string[] } };
    assert.deepEqual(table.table.columnNames(), ["position", "token", "saliency", "input_x_gradient"]);
    assert.doesNotMatch(over.intro ?? "", /integrated gradients/i);
    // Asked for explicitly (--attribution-steps): computed whatever the budget, and no note.
    const asked = await tokenAttributionSection(m, PROMPT, 4);
    assert.ok(!asked.items.some((i) => typeof i === "object" && i !== null && "note" in i));
    assert.match(asked.intro ?? "", /integrated gradients \(4 steps/);
    const none = await tokenAttributionSection(m, PROMPT, 0);
    assert.ok(!none.items.some((i) => typeof i === "object" && i !== null && "note" in i), "0 asked: no note");
  } finally {
    ATTRIBUTION_FLOP_BUDGET.host = saved;
  }
  const within = await tokenAttributionSection(m, PROMPT);
  assert.match(within.intro ?? "", /integrated gradients \(64 steps/);
});

test("lmprobe probe --attribution-steps takes 0 or 2 to 4096", () => {
  const parse = (v: string) => parseProbeArgs(["--prompt", "x", "--attribution-steps", v]);
  assert.equal((parse("0") as { attributionSteps?: number }).attributionSteps, 0);
  assert.equal((parse("128") as { attributionSteps?: number }).attributionSteps, 128);
  assert.equal((parseProbeArgs(["--prompt", "x"]) as { attributionSteps?: number }).attributionSteps, undefined);
  for (const bad of ["1", "-2", "2.5", "abc", "5000"]) assert.throws(() => parse(bad), (e: Error) => e instanceof ArgumentError && /--attribution-steps/.test(e.message), bad);
});
