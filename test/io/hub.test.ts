import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { afterEach, test } from "node:test";
import { HubDownloadError, HubPathError, MissingFileError } from "../../src/errors";
import { openCheckpoint } from "../../src/io/checkpoint";
import { downloadCheckpoint, type DownloadProgress } from "../../src/io/hub";
import { hubCacheDir } from "../../src/io/hub-cache";
import { resolveCheckpointDir } from "../../src/load";
import { tempDir, TINY } from "./helpers";
import { commitOf, startHubServer, type HubServer } from "./hub-server";

const LLAMA = path.join(TINY, "llama");
const SHARDED = path.join(TINY, "llama3-f16-sharded");
let server: HubServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

/** Files of a fixture the hub would hold (what lmprobe downloads from it). */
function servedFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => !f.startsWith("reference") && !f.startsWith("batch_reference")).sort();
}

function sameBytes(a: string, b: string): boolean {
  return fs.readFileSync(a).equals(fs.readFileSync(b));
}

test("downloads into huggingface_hub's cache layout, with progress, and the snapshot opens", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA } });
  const cacheDir = tempDir();
  const events: DownloadProgress[] = [];
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint, onProgress: (p) => events.push(p) });
  const repo = path.join(cacheDir, "models--tiny--llama");
  const commit = commitOf("tiny/llama");
  assert.equal(dir, path.join(repo, "snapshots", commit));
  assert.equal(fs.readFileSync(path.join(repo, "refs", "main"), "utf8"), commit);
  for (const f of servedFiles(LLAMA)) {
    const link = path.join(dir, f);
    assert.ok(fs.lstatSync(link).isSymbolicLink(), `${f} should link into blobs/`);
    const target = fs.readlinkSync(link);
    assert.ok(!path.isAbsolute(target) && target.startsWith(path.join("..", "..", "blobs")), target);
    assert.ok(sameBytes(link, path.join(LLAMA, f)), f);
  }
  assert.ok(fs.existsSync(path.join(repo, ".no_exist", commit, "chat_template.jinja")));
  assert.deepEqual(fs.readdirSync(path.join(repo, "blobs")).filter((b) => b.endsWith(".incomplete")), []);
  // the safetensors blob is named by its sha256 (LFS ETag), as Python names it
  const weightsBlob = path.basename(fs.readlinkSync(path.join(dir, "model.safetensors")));
  assert.match(weightsBlob, /^[0-9a-f]{64}$/);

  const total = servedFiles(LLAMA).reduce((n, f) => n + fs.statSync(path.join(LLAMA, f)).size, 0);
  const last = events[events.length - 1];
  assert.equal(last.bytes, total);
  assert.equal(last.total, total);
  assert.ok(events.every((e, i) => i === 0 || e.bytes >= events[i - 1].bytes));
  const weightEvents = events.filter((e) => e.file === "model.safetensors");
  assert.equal(weightEvents[weightEvents.length - 1].fileBytes, fs.statSync(path.join(LLAMA, "model.safetensors")).size);
  assert.equal(weightEvents[0].fileTotal, fs.statSync(path.join(LLAMA, "model.safetensors")).size);

  const ck = openCheckpoint(dir);
  assert.equal(ck.config.modelType, "llama");
  ck.weights.close();
});

test("a sharded checkpoint downloads its index and every shard", async () => {
  server = await startHubServer({ repos: { "tiny/sharded": SHARDED } });
  const cacheDir = tempDir();
  const dir = await downloadCheckpoint("tiny/sharded", { cacheDir, endpoint: server.endpoint });
  for (const f of servedFiles(SHARDED)) assert.ok(sameBytes(path.join(dir, f), path.join(SHARDED, f)), f);
  const ck = openCheckpoint(dir);
  assert.equal(new Set(ck.weights.names().map((n) => ck.weights.info(n).file)).size, 2);
  ck.weights.close();
  assert.ok(!server.requests.some((r) => /\/model\.safetensors$/.test(r)), "the single-file name need not be asked for");
  assert.ok(server.requests.some((r) => r.startsWith("GET /cdn/tiny/sharded/model-00002-of-00002.safetensors")));
});

test("a second load uses the cache with no network: the server is gone", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA } });
  const cacheDir = tempDir();
  const first = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint });
  const endpoint = server.endpoint;
  await server.close();
  server = null;
  const second = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint });
  assert.equal(second, first);
  // and through loadModel's resolver, configured by the environment as a user would
  const saved = { ...process.env };
  try {
    process.env.HF_HUB_CACHE = cacheDir;
    process.env.HF_ENDPOINT = endpoint;
    process.env.HF_HUB_OFFLINE = "1";
    assert.equal(await resolveCheckpointDir("tiny/llama"), first);
    await assert.rejects(resolveCheckpointDir("tiny/other"), (e: any) => e instanceof MissingFileError && /HF_HUB_OFFLINE/.test(e.message));
  } finally {
    process.env = saved;
  }
});

test("a connection cut mid-file leaves no file that passes for whole, and a retry completes", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, cutFile: "model.safetensors" });
  const cacheDir = tempDir();
  const endpoint = server.endpoint;
  await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir, endpoint }), (e: any) => e instanceof HubDownloadError && /model\.safetensors/.test(e.message));
  const repo = path.join(cacheDir, "models--tiny--llama");
  const blobs = fs.readdirSync(path.join(repo, "blobs"));
  assert.ok(blobs.every((b) => !b.endsWith(".incomplete")), `left: ${blobs}`);
  const snapshot = path.join(repo, "snapshots", commitOf("tiny/llama"));
  assert.ok(!fs.existsSync(path.join(snapshot, "model.safetensors")));
  // every blob that exists is whole
  for (const f of fs.readdirSync(snapshot)) assert.ok(sameBytes(path.join(snapshot, f), path.join(LLAMA, f)), f);
  await server.close();
  server = await startHubServer({ repos: { "tiny/llama": LLAMA } });
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint });
  assert.ok(sameBytes(path.join(dir, "model.safetensors"), path.join(LLAMA, "model.safetensors")));
});

test("without x-repo-commit or ETag the revision names the snapshot and blobs are named by sha256", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, plain: true });
  const cacheDir = tempDir();
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir, endpoint: server.endpoint, revision: "v1.0" });
  assert.equal(dir, path.join(cacheDir, "models--tiny--llama", "snapshots", "v1.0"));
  for (const f of servedFiles(LLAMA)) {
    assert.match(path.basename(fs.readlinkSync(path.join(dir, f))), /^[0-9a-f]{64}$/);
    assert.ok(sameBytes(path.join(dir, f), path.join(LLAMA, f)));
  }
  await server.close();
  server = null;
  assert.equal(await downloadCheckpoint("tiny/llama", { cacheDir, endpoint: "http://127.0.0.1:9", revision: "v1.0" }), dir);
});

test("HF_TOKEN is sent as a bearer token; without it a gated model says to set it", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA }, token: "hf_secret" });
  await assert.rejects(downloadCheckpoint("tiny/llama", { cacheDir: tempDir(), endpoint: server.endpoint, token: undefined }), (e: any) => e instanceof HubDownloadError && /HF_TOKEN/.test(e.message));
  const dir = await downloadCheckpoint("tiny/llama", { cacheDir: tempDir(), endpoint: server.endpoint, token: "hf_secret" });
  assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
});

test("a repository without a required file is a HubDownloadError naming it", async () => {
  server = await startHubServer({ repos: { "tiny/llama": LLAMA } });
  await assert.rejects(downloadCheckpoint("tiny/absent", { cacheDir: tempDir(), endpoint: server.endpoint }), (e: any) => e instanceof HubDownloadError && /config\.json/.test(e.message) && /404/.test(e.message));
});

test("ids, revisions and shard names that could escape the cache are HubPathErrors", async () => {
  const cacheDir = tempDir();
  for (const id of ["../x", "a/../../b", "/abs/path", "a\\b", "a/b/c", "a b", "", "owner/na..me", "owner/-x", "a--b/c", "x".repeat(97)]) {
    await assert.rejects(downloadCheckpoint(id, { cacheDir, endpoint: "http://127.0.0.1:9" }), (e: any) => e instanceof HubPathError && e.value === id, id);
  }
  for (const revision of ["../main", "a//b", "/main", "ma\\in", "main/", "a b", "refs/../../x"]) {
    await assert.rejects(downloadCheckpoint("a/b", { cacheDir, revision, endpoint: "http://127.0.0.1:9" }), (e: any) => e instanceof HubPathError && e.argument === "revision", revision);
  }
  // a hostile index naming a shard outside the snapshot
  const index = { weight_map: { "model.embed_tokens.weight": "../../../../escape.safetensors" } };
  server = await startHubServer({ repos: { "evil/model": LLAMA }, extra: { "evil/model": { "model.safetensors.index.json": Buffer.from(JSON.stringify(index)) } } });
  await assert.rejects(downloadCheckpoint("evil/model", { cacheDir, endpoint: server.endpoint }), (e: any) => e instanceof HubPathError && /escape/.test(e.value));
  assert.ok(!fs.existsSync(path.join(cacheDir, "..", "escape.safetensors")));
  assert.ok(!server.requests.some((r) => r.includes("escape")));
});

test("the cache root follows HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, as huggingface_hub does", () => {
  const saved = { ...process.env };
  try {
    delete process.env.HF_HUB_CACHE;
    delete process.env.HF_HOME;
    process.env.XDG_CACHE_HOME = "/tmp/xdg";
    assert.equal(hubCacheDir(), "/tmp/xdg/huggingface/hub");
    process.env.HF_HOME = "/tmp/hfhome";
    assert.equal(hubCacheDir(), "/tmp/hfhome/hub");
    process.env.HF_HUB_CACHE = "/tmp/hubcache";
    assert.equal(hubCacheDir(), "/tmp/hubcache");
    assert.equal(hubCacheDir("/x/y"), "/x/y");
  } finally {
    process.env = saved;
  }
});
