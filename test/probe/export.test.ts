import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as aq from "arquero";
import { exportTable, saveTable } from "../../src/probe/export";
import { logitLens } from "../../src/probe/logit-lens";
import { ArgumentError } from "../../src/errors";
import { model } from "./models";

test("a probe table round-trips through CSV, JSON and Arrow, awkward token texts included", async () => {
  const m = await model("demo");
  const lens = await logitLens(m, "The capital of France is", { k: 2 });
  const table = lens.table.derive({ token: aq.escape((d: { token: string }) => `${d.token},"q"\n`) });
  const original = table.objects();
  const fromCsv = aq.fromCSV(exportTable(table, "csv"), { parse: { token: String, input_token: String, stream: String } }).objects();
  const fromJson = aq.fromJSON(exportTable(table, "json")).objects();
  const fromArrow = aq.fromArrow(exportTable(table, "arrow")).objects();
  for (const [format, back] of [["csv", fromCsv], ["json", fromJson], ["arrow", fromArrow]] as const) {
    assert.equal(back.length, original.length, format);
    back.forEach((r, i) => {
      const o = original[i] as Record<string, unknown>;
      for (const [key, value] of Object.entries(o)) {
        const got = (r as Record<string, unknown>)[key];
        if (typeof value === "number") assert.ok(Math.abs(Number(got) - value) <= 1e-6 * Math.max(1, Math.abs(value)), `${format} ${key}[${i}]`);
        else assert.equal(got, value, `${format} ${key}[${i}]`);
      }
    });
  }
});

test("saveTable picks the format from the extension and rejects unknown ones", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-export-"));
  const t = aq.table({ a: [1, 2], b: ["x", "y"] });
  assert.equal(fs.readFileSync(saveTable(t, path.join(dir, "t.csv")), "utf8"), "a,b\n1,x\n2,y\n");
  assert.deepEqual(JSON.parse(fs.readFileSync(saveTable(t, path.join(dir, "t.json")), "utf8")), [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
  assert.deepEqual(aq.fromArrow(fs.readFileSync(saveTable(t, path.join(dir, "t.arrow")))).objects(), [{ a: 1, b: "x" }, { a: 2, b: "y" }]);
  assert.throws(() => saveTable(t, path.join(dir, "t.xlsx")), ArgumentError);
  fs.rmSync(dir, { recursive: true });
});
