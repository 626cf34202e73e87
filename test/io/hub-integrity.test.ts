// Hub downloads that cannot corrupt the cache: content checked against the LFS ETag (sha256) and the announced
// size, interrupted transfers resumed with Range, a per-blob lock and per-writer temporary files so that two
// processes filling one cache at once both end with whole files, and a corrupt cache entry fetched again.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterEach, test } from "node:test";
import { HubCacheCorruptError, HubDownloadError } from "../../src/errors";
import { downloadCheckpoint } from "../../src/io/hub";
import { loadModel } from "../../src/load";
import { seededRandom } from "../../src/model/sampling";
import { ROOT, tempDir, TINY } from "./helpers";
import { commitOf, startHubServer, type HubServer } from "./hub-server";

const LLAMA = path.join(TINY, "llama");
const WEIGHTS = path.join(LLAMA, "model.safetensors");
const WEIGHTS_SHA = createHash("sha256").update(fs.readFileSync(WEIGHTS)).digest("hex");
let server: HubServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

function blobsOf(cacheDir: string): string[] {
  const dir = path.join(cacheDir, "models--tiny--llama", "blobs");
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

function assertWhole(dir: string): void {
  for (const f of fs.readdirSync(LLAMA).filter((n) => !n.startsWith("reference") && !n.startsWith("batch_reference"))) {
    assert.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(LLAMA, f))), `${f} differs from the hub's`);
  }
}

test("a truncated body with no announced size is refused, not cached under the full file's ETag", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, noSize: true, cutFile: "model.safetensors" });
  const cacheDir = tempDir();
  await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint }), (e: any) => e instanceof HubDownloadError && /model\.safetensors/.test(e.message));
  assert.ok(!blobsOf(cacheDir).includes(WEIGHTS_SHA), "no blob may stand for the whole file");
  assert.deepEqual(blobsOf(cacheDir).filter((b) => b.endsWith(".incomplete")), []);
});

test("content whose sha256 is not the LFS ETag is refused naming both hashes", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, fault: (file) => (file === "model.safetensors" ? "flip" : "ok") });
  const cacheDir = tempDir();
  await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint }), (e: any) => e instanceof HubDownloadError && e.message.includes(WEIGHTS_SHA) && /sha256/.test(e.message));
  assert.ok(!blobsOf(cacheDir).includes(WEIGHTS_SHA));
});

test("a body longer than the announced size is refused", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, longFile: "model.safetensors" });
  const cacheDir = tempDir();
  await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint }), (e: any) => e instanceof HubDownloadError && /more than the announced/.test(e.message));
  assert.ok(!blobsOf(cacheDir).includes(WEIGHTS_SHA));
});

test("a dropped connection is resumed with a Range request when the server supports it", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, ranges: true, cutFile: "model.safetensors", cutTimes: 1 });
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir: tempDir(), endpoint: server.endpoint });
  assertWhole(dir);
  const half = Math.floor(fs.statSync(WEIGHTS).size / 2);
  assert.deepEqual(server.ranges, [`/cdn/tiny/llama/model.safetensors bytes=${half}-`]);
});

test("without Range support a dropped connection is fetched again from the start", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, cutFile: "model.safetensors", cutTimes: 2 });
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir: tempDir(), endpoint: server.endpoint });
  assertWhole(dir);
});

test("a download left by a process that died is taken over and resumed; a stale lock of it is broken", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, ranges: true });
  const cacheDir = tempDir();
  const dead = spawn(process.execPath, ["-e", ""]);
  const deadPid = dead.pid!;
  await new Promise((ok) => dead.on("exit", ok));
  const blobs = path.join(cacheDir, "models--tiny--llama", "blobs");
  fs.mkdirSync(blobs, { recursive: true });
  const third = Math.floor(fs.statSync(WEIGHTS).size / 3);
  fs.writeFileSync(path.join(blobs, `${WEIGHTS_SHA}.${deadPid}-0badc0de.incomplete`), fs.readFileSync(WEIGHTS).subarray(0, third));
  const locks = path.join(cacheDir, ".locks", "models--tiny--llama");
  fs.mkdirSync(locks, { recursive: true });
  fs.writeFileSync(path.join(locks, `${WEIGHTS_SHA}.lmprobe.lock`), JSON.stringify({ host: require("node:os").hostname(), pid: deadPid, token: "x" }));
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint });
  assertWhole(dir);
  assert.deepEqual(server.ranges, [`/cdn/tiny/llama/model.safetensors bytes=${third}-`]);
  assert.deepEqual(fs.readdirSync(locks), [], "every lock is released");
  assert.deepEqual(blobsOf(cacheDir).filter((b) => b.includes(".incomplete")), []);
});

/** Runs the download in a separate Node process. */
function childDownload(cacheDir: string, endpoint: string, delayMs: number): Promise<{ dir?: string; error?: string; message?: string }> {
  return new Promise((ok, fail) => {
    setTimeout(() => {
      const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "hub-download-child.ts"), "tiny/llama", cacheDir, endpoint], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.on("error", fail);
      child.on("exit", () => {
        try {
          ok(JSON.parse(out.trim().split("\n").pop() ?? ""));
        } catch {
          fail(new Error(`child printed no result: ${out}`));
        }
      });
    }, delayMs);
  });
}

test("two processes downloading one repository into one cache at once both get whole files", { timeout: 240_000 }, async () => {
  // The weights stream slowly so that the second process arrives while the first is writing; the start
  // offsets vary from a seed, so the rounds cover "both at once" and "one mid-file".
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, slowFile: { file: "model.safetensors", chunks: 40, pauseMs: 15 } });
  const rand = seededRandom(18);
  for (let round = 0; round < 5; round++) {
    const cacheDir = tempDir();
    const offset = Math.floor(rand() * 400);
    const results = await Promise.all([childDownload(cacheDir, server.endpoint, 0), childDownload(cacheDir, server.endpoint, offset)]);
    for (const r of results) assert.equal(r.error, undefined, `round ${round} (offset ${offset} ms): ${r.error}: ${r.message}`);
    assert.equal(results[0].dir, results[1].dir);
    assertWhole(results[0].dir!);
    assert.ok(blobsOf(cacheDir).includes(WEIGHTS_SHA));
    assert.deepEqual(blobsOf(cacheDir).filter((b) => b.includes(".incomplete")), [], `round ${round}`);
    assert.deepEqual(fs.readdirSync(path.join(cacheDir, ".locks", "models--tiny--llama")), [], `round ${round}: locks left`);
  }
});

test("a corrupt file in the cache is fetched again on load; offline it is a HubCacheCorruptError naming it", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA } });
  const cacheDir = tempDir();
  const endpoint = server.endpoint;
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint });
  const blob = path.join(cacheDir, "models--tiny--llama", "blobs", WEIGHTS_SHA);
  const truncate = () => fs.writeFileSync(blob, fs.readFileSync(WEIGHTS).subarray(0, 1000));
  truncate();
  const saved = { ...process.env };
  try {
    process.env.HF_ENDPOINT = endpoint;
    const model = await loadModel("tiny/llama", { cacheDir, backend: "cpu" });
    model.dispose();
    assertWhole(dir);
    assert.equal(server.requests.filter((r) => r === "GET /cdn/tiny/llama/model.safetensors").length, 2, "fetched again once");
    truncate();
    await assert.rejects(loadModel("tiny/llama", { cacheDir, backend: "cpu", offline: true }), (e: any) => e instanceof HubCacheCorruptError && e.file.endsWith(path.join(commitOf("tiny/llama"), "model.safetensors")));
    assert.ok(!fs.existsSync(blob), "the corrupt copy is removed");
  } finally {
    process.env = saved;
  }
});

test("a git-stored file (config, tokenizer) cut short with no size announced is refused by its git blob id", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, noSize: true, cutFile: "tokenizer.json" });
  const cacheDir = tempDir();
  await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint }), (e: any) => e instanceof HubDownloadError && /tokenizer\.json/.test(e.message) && /git blob id/.test(e.message));
  const snapshot = path.join(cacheDir, "models--tiny--llama", "snapshots", commitOf("tiny/llama"));
  assert.ok(!fs.existsSync(path.join(snapshot, "tokenizer.json")));
});

test("a body altered once in transit is fetched again and the download completes whole", async () => {
  let n = 0;
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, fault: (file) => (file === "model.safetensors" && n++ === 0 ? "flip" : "ok") });
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir: tempDir(), endpoint: server.endpoint });
  assertWhole(dir);
  assert.equal(server.requests.filter((r) => r === "GET /cdn/tiny/llama/model.safetensors").length, 2);
});
