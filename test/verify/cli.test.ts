// `lmprobe verify`: JSON output and exit status, a reference that disagrees (FAIL, naming the worst element),
// a generation divergence that is a near tie (reported, not failed), and argument errors.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { ArgumentError } from "../../src/errors";
import { run } from "../../src/cli/verify";
import { SafetensorsFile } from "../../src/io/safetensors";
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { fixtureDir, referencePath, useBackend } from "../model/engine-helpers";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-verify-"));
before(useBackend);
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function capture(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    return { code: await run(args), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

/** A copy of gpt2's reference with `edit` applied to some tensors. */
function editedReference(name: string, edit: (tensor: string, data: Float32Array | number[]) => Float32Array | number[]): string {
  const src = SafetensorsFile.open(referencePath("gpt2"));
  const tensors: Record<string, TensorToWrite> = {};
  for (const n of src.names()) {
    const e = src.entry(n);
    const data = e.dtype === "I64" ? src.readIntegers(n) : src.readFloat32(n);
    tensors[n] = { dtype: e.dtype === "I64" ? "I64" : "F32", shape: e.shape, data: edit(n, data) } as TensorToWrite;
  }
  src.close();
  const file = path.join(tmp, name);
  writeSafetensors(file, tensors);
  return file;
}

test("--json passes on a fixture, with every tensor's max abs diff and worst ratio", async () => {
  const { code, out } = await capture([fixtureDir("gpt2"), "--json"]);
  const json = JSON.parse(out);
  assert.equal(code, 0);
  assert.equal(json.ok, true);
  assert.ok(json.tensors.logits.maxAbsDiff < 1e-4 && json.tensors.logits.worstRatio <= 1);
  assert.equal(json.generated.ok, true);
});

test("zero tolerance fails (the engine is float32-close, not bit-identical) and exits 1", async () => {
  const { code, out } = await capture([fixtureDir("gpt2"), "--atol", "0", "--rtol", "0"]);
  assert.equal(code, 1);
  assert.match(out, /FAIL/);
});

test("a corrupted reference element fails that tensor and is named as the worst", async () => {
  const file = editedReference("bad-logits.safetensors", (n, d) => {
    if (n !== "logits") return d;
    const copy = Float32Array.from(d as Float32Array);
    copy[3 * 512 + 17] += 0.01;
    return copy;
  });
  const { code, out } = await capture([fixtureDir("gpt2"), "--reference", file, "--json"]);
  const json = JSON.parse(out);
  assert.equal(code, 1);
  assert.equal(json.tensors.logits.ok, false);
  assert.deepEqual(json.tensors.logits.worstAt, [3, 17]);
  assert.equal(json.tensors.resid_post.ok, true);
});

test("a divergent generated id fails unless the reference's top-2 margin there is a near tie", async () => {
  const T = 18;
  const refFile = SafetensorsFile.open(referencePath("gpt2"));
  const logits = refFile.readFloat32("logits");
  refFile.close();
  const last = Array.from(logits.subarray((T - 1) * 512, T * 512));
  const order = last.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
  const [top, second] = [order[0][1], order[1][1]];
  // Diverging at step 0 to the runner-up: a real failure...
  const wrong = editedReference("wrong-gen.safetensors", (n, d) => (n === "generated_ids" ? (d as number[]).map((v, i) => (i === T ? second : v)) : d));
  const failed = JSON.parse((await capture([fixtureDir("gpt2"), "--reference", wrong, "--json"])).out);
  assert.equal(failed.generated.ok, false);
  assert.equal(failed.generated.withCache.divergedAt, 0);
  assert.equal(failed.generated.withCache.nearTie, false);
  // ...unless the reference's own logits make the two a near tie.
  const tie = editedReference("tie-gen.safetensors", (n, d) => {
    if (n === "generated_ids") return (d as number[]).map((v, i) => (i === T ? second : v));
    if (n === "logits") {
      const copy = Float32Array.from(d as Float32Array);
      copy[(T - 1) * 512 + second] = copy[(T - 1) * 512 + top] - 5e-5;
      return copy;
    }
    return d;
  });
  const tied = JSON.parse((await capture([fixtureDir("gpt2"), "--reference", tie, "--json", "--atol", "1"])).out);
  assert.equal(tied.generated.withCache.nearTie, true);
  assert.equal(tied.generated.ok, true);
});

test("`verify demo` needs no --reference: the demo model carries transformers' reference, the same file as the fixture", async () => {
  const { code, out } = await capture(["demo", "--json"]);
  const json = JSON.parse(out);
  assert.equal(code, 0);
  assert.equal(json.ok, true);
  assert.equal(json.generated.ok, true);
  const shipped = path.resolve(__dirname, "..", "..", "models", "lmprobe-demo", "reference.safetensors");
  const fixture = path.resolve(__dirname, "..", "fixtures", "demo-capital", "reference.safetensors");
  assert.ok(fs.readFileSync(shipped).equals(fs.readFileSync(fixture)), "the shipped reference is the fixture transformers produced");
});

test("argument errors are ArgumentErrors naming the option", async () => {
  await assert.rejects(run([]), (e: unknown) => e instanceof ArgumentError && e.argument === "model");
  await assert.rejects(run([fixtureDir("gpt2"), "--atol", "x"]), (e: unknown) => e instanceof ArgumentError && e.argument === "--atol");
  await assert.rejects(run([fixtureDir("gpt2"), "--bogus"]), (e: unknown) => e instanceof ArgumentError && e.argument === "--bogus");
  await assert.rejects(run([tmp]), (e: unknown) => e instanceof ArgumentError && e.argument === "--reference");
});
