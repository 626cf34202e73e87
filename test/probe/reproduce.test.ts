import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { provenance, provenanceLine } from "../../src/model/provenance";
import { lfsSha256, sha256File } from "../../src/io/content-hash";
import { exportTable, readExport } from "../../src/probe/export";
import { checkReproduction, exportAnalysis } from "../../src/probe/reproduce";
import { DEMO_DIR } from "../tensor/fixtures";

process.env.LMPROBE_CACHE = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-cache-"));
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const analysis = { name: "logitLens", input: "The capital of France is", options: { k: 3 } };

test("provenance of the demo: file hashes, stored dtype, backend, and a one-line form", async () => {
  const m = (await loadModel("demo", { backend: "wasm" })) as LanguageModel;
  const p = await provenance(m, { seed: 7 });
  const fileHash = sha(fs.readFileSync(path.join(DEMO_DIR, "model.safetensors")));
  assert.deepEqual(p.weights.files, [{ file: "model.safetensors", bytes: fs.statSync(path.join(DEMO_DIR, "model.safetensors")).size, sha256: fileHash }]);
  assert.equal(p.weights.sha256, sha(`model.safetensors\n${fileHash}\n`));
  assert.deepEqual(p.weights.dtypes, ["BF16"]);
  assert.equal(p.model.kind, "demo");
  assert.equal(p.backend.name, "wasm");
  assert.equal(p.seed, 7);
  assert.equal(p.config.sha256, sha(`config.json\n${sha(fs.readFileSync(path.join(DEMO_DIR, "config.json")))}\ngeneration_config.json\n${sha(fs.readFileSync(path.join(DEMO_DIR, "generation_config.json")))}\n`));
  assert.match(provenanceLine(p), /^lmprobe \d+\.\d+\.\d+ · demo model · weights [0-9a-f]{12} \(BF16\) · wasm · seed 7 · Node v/);
});

test("file hashes are cached by path, size and mtime; a hub blob named by its sha256 is not read", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-hash-"));
  const file = path.join(dir, "w.bin");
  fs.writeFileSync(file, "first");
  assert.equal(await sha256File(file), sha("first"));
  const cache = JSON.parse(fs.readFileSync(path.join(process.env.LMPROBE_CACHE!, "sha256.json"), "utf8"));
  assert.equal(cache[fs.realpathSync(file)].sha256, sha("first"));
  fs.writeFileSync(file, "second, longer");
  assert.equal(await sha256File(file), sha("second, longer"), "a changed file is hashed again");
  const blobs = path.join(dir, "models--a--b", "blobs");
  const snap = path.join(dir, "models--a--b", "snapshots", "0".repeat(40));
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(snap, { recursive: true });
  const named = "ab".repeat(32);
  fs.writeFileSync(path.join(blobs, named), "content");
  fs.symlinkSync(path.join(blobs, named), path.join(snap, "model.safetensors"));
  assert.equal(lfsSha256(path.join(snap, "model.safetensors")), named);
  assert.equal(await sha256File(path.join(snap, "model.safetensors")), named);
});

test("exports carry provenance and the analysis in CSV, JSON and Arrow", async () => {
  const m = (await loadModel("demo", { backend: "wasm" })) as LanguageModel;
  for (const format of ["csv", "json", "arrow"] as const) {
    const out = await exportAnalysis(m, analysis, format);
    const back = readExport(out);
    assert.equal(back.metadata.analysis?.name, "logitLens", format);
    assert.equal(back.metadata.provenance?.model.kind, "demo", format);
    assert.ok(back.rows.length > 0 && "token" in back.rows[0], format);
  }
  assert.deepEqual(readExport(exportTable((await import("arquero")).table({ a: [1] }), "json")).metadata, {}, "no metadata unless given");
});

test("checkReproduction: wasm → cpu reproduces with a backend change; a different weight file is detected", async () => {
  const onWasm = (await loadModel("demo", { backend: "wasm" })) as LanguageModel;
  const shared = (await exportAnalysis(onWasm, analysis, "json")) as string;
  onWasm.dispose();
  const onCpu = (await loadModel("demo", { backend: "cpu" })) as LanguageModel;
  const same = await checkReproduction(shared, onCpu);
  assert.equal(same.reproduced, true, same.summary);
  assert.deepEqual(same.provenanceChanges, ["backend.name", "backend.kernels"]);
  onCpu.dispose();

  // One weight changed: another file, detected by its hash, and the numbers move.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-altered-"));
  for (const f of fs.readdirSync(DEMO_DIR)) fs.copyFileSync(path.join(DEMO_DIR, f), path.join(dir, f));
  const weights = fs.readFileSync(path.join(dir, "model.safetensors"));
  const headerEnd = 8 + Number(weights.readBigUInt64LE(0));
  for (let i = headerEnd; i < headerEnd + 4096; i += 2) weights[i + 1] ^= 0x01; // nudge bf16 exponents of the first values
  fs.writeFileSync(path.join(dir, "model.safetensors"), weights);
  const altered = (await loadModel(dir, { backend: "wasm" })) as LanguageModel;
  const check = await checkReproduction(shared, altered);
  assert.ok(check.provenanceChanges.includes("weights.sha256"), check.summary);
  assert.equal(check.now.model.kind, "local");
  altered.dispose();
  await assert.rejects(() => checkReproduction("[]", altered), /analysis record/);
});
