import { test } from "node:test";
import assert from "node:assert/strict";
import { workshop, exerciseList, CheckResult } from "../../src/workshop";
import { choiceJudge, headJudge, numberJudge, tokenJudge } from "../../src/workshop/judges";
import { ArgumentError } from "../../src/errors";
import { model } from "../probe/models";

test("judges: right, close and wrong with a reason", () => {
  const n = numberJudge(0.01, 0.1, "why");
  assert.equal(n("x", 0.505, 0.5).verdict, "right");
  assert.equal(n("x", 0.55, 0.5).verdict, "close");
  const wrong = n("x", 0.9, 0.5);
  assert.equal(wrong.verdict, "wrong");
  assert.match(wrong.message, /off by 0\.4.*why/);
  assert.equal(n("x", "0.5", 0.5).verdict, "wrong", "a string is not a number");
  const t = tokenJudge("why");
  assert.equal(t("x", " Paris", " Paris").verdict, "right");
  assert.equal(t("x", "Paris", " Paris").verdict, "close");
  assert.equal(t("x", " Rome", " Paris").verdict, "wrong");
  const h = headJudge("why");
  assert.equal(h("x", "L1H1", [1, 1]).verdict, "right");
  assert.equal(h("x", [1, 1], [1, 1]).verdict, "right");
  assert.equal(h("x", "L1H3", [1, 1]).verdict, "close");
  assert.equal(h("x", "L2H1", [1, 1]).verdict, "wrong");
  assert.equal(h("x", "head one", [1, 1]).verdict, "wrong");
  const c = choiceJudge("why");
  assert.equal(c("x", false, false).verdict, "right");
  assert.equal(c("x", true, false).verdict, "wrong");
  const bundle = new CheckResult("1.1", "wrong", "<b>not</b>").toMimeBundle();
  assert.match(bundle["text/html"] as string, /&lt;b&gt;not&lt;\/b&gt;/, "messages are escaped");
});

test("every exercise rejects a deliberately wrong answer and accepts the model's own value; a blank is unanswered", async () => {
  const m = await model("demo");
  const ws = workshop(m, { quiet: true });
  for (const e of exerciseList()) {
    assert.equal((await ws.check(e.id, undefined)).verdict, "unanswered", e.id);
    const truth = await e.truth(m);
    const wrong =
      typeof truth === "number" ? truth + 1000 : typeof truth === "boolean" ? !truth : typeof truth === "string" ? " zzz-not-a-token" : [truth as number[]][0].map((x) => x + 7);
    const bad = await ws.check(e.id, wrong);
    assert.equal(bad.verdict, "wrong", `${e.id}: ${JSON.stringify(wrong)} must be wrong`);
    assert.ok(bad.message.length > 10, `${e.id} says why`);
    assert.equal((await ws.check(e.id, truth)).verdict, "right", `${e.id}: the model's own value is right`);
    assert.ok(ws.hint(e.id).startsWith(`${e.id} hint:`));
  }
  await assert.rejects(() => ws.check("9.9", 1), ArgumentError);
});

test("the workshop refuses a model other than the demo", async () => {
  const m = await model("llama");
  assert.throws(() => workshop(m), /demo model/);
});
