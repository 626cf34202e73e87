import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { initWorkshop } from "../../src/workshop/init";
import { FileExistsError } from "../../src/errors";
import { main } from "../../src/cli/main";

test("workshop init writes the exercises and a README, and never overwrites", () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), "lmprobe-ws-")), "class");
  const result = initWorkshop(dir);
  assert.deepEqual(readdirSync(dir).sort(), [...result.files].sort());
  assert.ok(result.files.filter((f) => f.endsWith(".ipynb")).length >= 5);
  assert.match(readFileSync(path.join(dir, "README.md"), "utf8"), /install-kernel/);
  assert.ok(!existsSync(path.join(dir, "solutions")), "solutions only when asked");
  assert.doesNotMatch(readFileSync(path.join(dir, "01-tokens-logits.ipynb"), "utf8"), /ids\.length/, "the exercise copy holds no answer");

  // A participant's edited notebook is never replaced; a refused run writes nothing at all.
  const again = mkdtempSync(path.join(os.tmpdir(), "lmprobe-ws-"));
  writeFileSync(path.join(again, "03-attention-induction.ipynb"), "my work");
  assert.throws(() => initWorkshop(again, { solutions: true }), (err: unknown) => err instanceof FileExistsError && /03-attention-induction\.ipynb/.test((err as Error).message));
  assert.deepEqual(readdirSync(again), ["03-attention-induction.ipynb"]);
  assert.equal(readFileSync(path.join(again, "03-attention-induction.ipynb"), "utf8"), "my work");
});

test("lmprobe workshop init <dir> --solutions, and a usage error otherwise", async () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), "lmprobe-ws-")), "teacher");
  const log = console.log;
  console.log = () => {};
  try {
    assert.equal(await main(["workshop", "init", dir, "--solutions"]), 0);
  } finally {
    console.log = log;
  }
  assert.ok(readdirSync(path.join(dir, "solutions")).length >= 5);
  const err = console.error;
  console.error = () => {};
  try {
    assert.equal(await main(["workshop", "start", dir]), 1);
  } finally {
    console.error = err;
  }
});
