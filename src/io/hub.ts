// Downloads a checkpoint from the Hugging Face hub (or a mirror named by HF_ENDPOINT) into the cache
// Python's huggingface_hub uses, and returns the snapshot directory for openCheckpoint. A snapshot that is
// already complete in the cache is used without any network request, so a second load works offline.
// We write our own small client rather than use transformers.js's cache (a different layout, invisible to
// Python) so that models fetched from Python are reused and vice versa.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { HubCacheCorruptError, HubDownloadError, MissingFileError, SafetensorsFormatError } from "../errors";
import {
  blobNameFromEtag, cachedCommit, checkFileName, checkRepoId, checkRevision, COMMIT_HASH, hubCacheDir, hubOffline,
  linkSnapshotFile, markMissing, repoCacheDir, writeRef,
} from "./hub-cache";
import { downloadToFile, type Expected, fetchMetadata, type FileMetadata, gitBlobFromEtag, gitBlobIdOfFile, type HttpOptions, sha256FromEtag } from "./hub-http";
import { processAlive, withFileLock } from "./hub-lock";
import { INDEX_FILE, SINGLE_FILE } from "./safetensors-weights";

/** What a download reports as it goes: the file, its bytes so far and in all. */
export interface DownloadProgress {
  file: string;
  /** Bytes of this file received so far, and its size when known. */
  fileBytes: number;
  fileTotal: number | null;
  /** Bytes of the whole download so far, and its size when every file's size is known. */
  bytes: number;
  total: number | null;
}

/** Options of a hub download: revision, cache directory, endpoint, token, offline mode, progress, timeout. */
export interface HubOptions {
  /** Branch, tag or commit; default "main". */
  revision?: string;
  /** Cache root; default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Default $HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Default $HF_TOKEN. */
  token?: string;
  /** Use only the cache; default from HF_HUB_OFFLINE. */
  offline?: boolean;
  onProgress?: (progress: DownloadProgress) => void;
  /** Milliseconds without response or data before a request is abandoned; default 30 s. */
  timeoutMs?: number;
  /**
   * Check every cached file against the hub's metadata (size, and the sha256 of LFS files) instead of trusting
   * a complete snapshot; failing ones are fetched again (offline: HubCacheCorruptError naming the file).
   * loadModel sets it once when a cached checkpoint fails to open.
   */
  verifyCache?: boolean;
  /** Called with config.json's path once it is cached, before any weight is fetched; may throw to stop. */
  onConfig?: (configPath: string) => void;
}

const REQUIRED = ["config.json", "tokenizer.json"];
const OPTIONAL = ["generation_config.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"];

/** Shard names of an index file, validated as plain file names. */
function shardsOf(indexPath: string): string[] {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
  } catch (e) {
    throw new SafetensorsFormatError(indexPath, "(root)", `is not JSON (${(e as Error).message})`);
  }
  const map = index?.weight_map;
  if (!map || typeof map !== "object" || Array.isArray(map)) throw new SafetensorsFormatError(indexPath, "weight_map", "is missing or not an object");
  const shards = [...new Set(Object.values(map as Record<string, unknown>).map(String))];
  shards.forEach((s) => checkFileName(s, `shard name in ${INDEX_FILE}`));
  return shards;
}

/** The snapshot directory when config, tokenizer and every weight file are in the cache, else null. */
export function completeSnapshot(repoDir: string, revision: string): string | null {
  const commit = cachedCommit(repoDir, revision);
  if (!commit) return null;
  const dir = path.join(repoDir, "snapshots", commit);
  if (!REQUIRED.every((f) => fs.existsSync(path.join(dir, f)))) return null;
  if (fs.existsSync(path.join(dir, INDEX_FILE))) {
    return shardsOf(path.join(dir, INDEX_FILE)).every((s) => fs.existsSync(path.join(dir, s))) ? dir : null;
  }
  return fs.existsSync(path.join(dir, SINGLE_FILE)) ? dir : null;
}

function resolveUrl(endpoint: string, id: string, revision: string, file: string): string {
  const encodedFile = file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint.replace(/\/+$/, "")}/${id}/resolve/${encodeURIComponent(revision)}/${encodedFile}`;
}

interface Planned {
  file: string;
  meta: FileMetadata;
}

/** Downloads (or finds in the cache) a model's checkpoint files; returns the snapshot directory. */
export async function downloadCheckpoint(id: string, options: HubOptions = {}): Promise<string> {
  checkRepoId(id);
  const revision = options.revision ?? "main";
  checkRevision(revision);
  const cacheDir = hubCacheDir(options.cacheDir);
  const repoDir = repoCacheDir(cacheDir, id);
  const offline = options.offline ?? hubOffline();
  const cached = completeSnapshot(repoDir, revision);
  if (cached && options.verifyCache && offline) await verifyCachedSnapshot(cached);
  if (cached && !(options.verifyCache && !offline)) return cached;
  if (offline) {
    throw new MissingFileError(repoDir, `cached snapshot of ${id}@${revision} (offline mode: HF_HUB_OFFLINE is set)`, "unset HF_HUB_OFFLINE to download it, or download it once with network");
  }
  const http: HttpOptions = {
    endpoint: options.endpoint ?? process.env.HF_ENDPOINT ?? "https://huggingface.co",
    token: options.token ?? process.env.HF_TOKEN,
    timeoutMs: options.timeoutMs,
  };

  // The first answer fixes the commit; later files are asked for at that commit so that a push during
  // the download cannot mix two versions. Without x-repo-commit (a plain mirror) the revision names the snapshot.
  const first = await fetchMetadata(resolveUrl(http.endpoint, id, revision, "config.json"), http);
  if (!first) throw new HubDownloadError(resolveUrl(http.endpoint, id, revision, "config.json"), "HTTP 404 (no such repository or revision, or it has no config.json)", "check the model id and the revision");
  const commit = first.commit && COMMIT_HASH.test(first.commit) ? first.commit : revision;
  const at = first.commit && COMMIT_HASH.test(first.commit) ? commit : revision;
  const url = (file: string) => resolveUrl(http.endpoint, id, at, file);
  const planned: Planned[] = [{ file: "config.json", meta: first }];

  async function plan(file: string, required: boolean): Promise<boolean> {
    const meta = await fetchMetadata(url(file), http);
    if (!meta) {
      if (required) throw new HubDownloadError(url(file), "HTTP 404: the repository has no such file", `lmprobe needs ${file}; check that ${id} is a transformers checkpoint`);
      markMissing(repoDir, commit, file);
      return false;
    }
    planned.push({ file, meta });
    return true;
  }
  for (const f of REQUIRED.slice(1)) await plan(f, true);
  for (const f of OPTIONAL) await plan(f, false);
  const sharded = await plan(INDEX_FILE, false);
  if (!sharded) await plan(SINGLE_FILE, true);

  const progress = { bytes: 0, total: null as number | null };
  const fetchAll = async (items: Planned[]) => {
    for (const item of items) {
      await fetchFile(repoDir, commit, item, http, progress, options.onProgress, options.verifyCache ?? false);
      if (item.file === "config.json") options.onConfig?.(path.join(repoDir, "snapshots", commit, "config.json"));
    }
  };
  if (sharded) {
    // The index names the shards; fetch it, then plan them.
    await fetchAll(planned.splice(planned.length - 1, 1));
    for (const shard of shardsOf(path.join(repoDir, "snapshots", commit, INDEX_FILE))) await plan(shard, true);
  }
  // config.json first, so that onConfig can refuse a model before its weights are fetched.
  await fetchAll(planned.splice(0, 1));
  const sizes = planned.map((p) => p.meta.size);
  progress.total = sizes.every((s) => s !== null) ? progress.bytes + sizes.reduce((a, b) => a! + b!, 0)! : null;
  await fetchAll(planned);
  writeRef(repoDir, revision, commit);
  return path.join(repoDir, "snapshots", commit);
}

/** <cache>/.locks/<repo folder>/<key>.lmprobe.lock, beside huggingface_hub's own (flock) lock files. */
function lockPath(repoDir: string, key: string): string {
  return path.join(path.dirname(repoDir), ".locks", path.basename(repoDir), `${key}.lmprobe.lock`);
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Whether blobs/<name> holds the file: a regular file of the announced size and, when `deep`, of the sha256
 * its ETag names. A blob that fails is removed so that it is fetched again.
 */
async function blobIsGood(file: string, expected: Expected, deep: boolean): Promise<boolean> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return false;
  }
  const good = stat.isFile()
    && (expected.size === null || stat.size === expected.size)
    && (!deep || expected.sha256 === null || (await sha256OfFile(file)) === expected.sha256)
    && (!deep || !expected.gitBlob || expected.sha256 !== null || gitBlobIdOfFile(file, stat.size) === expected.gitBlob);
  if (!good) fs.rmSync(file, { force: true, recursive: stat.isDirectory() });
  return good;
}

/**
 * A temporary file for this writer. An interrupted download of the same blob by an lmprobe process that has
 * since died is taken over (renamed: only one taker can succeed) so that it resumes instead of restarting.
 */
function temporaryFile(blobs: string, key: string): string {
  const mine = path.join(blobs, `${key}.${process.pid}-${randomBytes(4).toString("hex")}.incomplete`);
  const pattern = new RegExp(`^${key.replace(/[.]/g, "\\.")}\\.(\\d+)-[0-9a-f]+\\.incomplete$`);
  const leftovers = fs.readdirSync(blobs)
    .map((name) => ({ name, pid: Number(pattern.exec(name)?.[1] ?? NaN) }))
    .filter((f) => Number.isInteger(f.pid) && f.pid !== process.pid && !processAlive(f.pid))
    .map((f) => ({ ...f, size: fs.statSync(path.join(blobs, f.name), { throwIfNoEntry: false })?.size ?? -1 }))
    .sort((a, b) => b.size - a.size);
  for (const [i, f] of leftovers.entries()) {
    try {
      if (i === 0) fs.renameSync(path.join(blobs, f.name), mine);
      else fs.rmSync(path.join(blobs, f.name), { force: true });
    } catch {
      // taken or removed by another process meanwhile
    }
  }
  return mine;
}

async function fetchFile(
  repoDir: string,
  commit: string,
  item: Planned,
  http: HttpOptions,
  progress: { bytes: number; total: number | null },
  onProgress: ((p: DownloadProgress) => void) | undefined,
  verifyCache: boolean,
): Promise<void> {
  const blobs = path.join(repoDir, "blobs");
  fs.mkdirSync(blobs, { recursive: true });
  const known = blobNameFromEtag(item.meta.etag);
  const expected: Expected = { size: item.meta.size, sha256: sha256FromEtag(item.meta.etag), gitBlob: gitBlobFromEtag(item.meta.etag, item.meta.commit) };
  if (known && (await blobIsGood(path.join(blobs, known), expected, verifyCache))) {
    linkSnapshotFile(repoDir, commit, item.file, known);
    return;
  }
  // Without a usable ETag the blob is named by the sha256 of its content, computed while it streams; the
  // lock is then keyed by the download URL.
  const key = known ?? `url-${createHash("sha256").update(item.meta.downloadUrl).digest("hex").slice(0, 32)}`;
  await withFileLock(lockPath(repoDir, key), async () => {
    // Another process may have installed it while we waited for the lock.
    if (known && (await blobIsGood(path.join(blobs, known), expected, verifyCache))) return;
    const temporary = temporaryFile(blobs, key);
    let fileBytes = 0;
    const result = await downloadToFile(item.meta.downloadUrl, temporary, expected, http, (delta) => {
      fileBytes += delta;
      progress.bytes += delta;
      onProgress?.({ file: item.file, fileBytes, fileTotal: item.meta.size, bytes: progress.bytes, total: progress.total });
    });
    fs.renameSync(temporary, path.join(blobs, known ?? result.sha256));
    if (!known) linkSnapshotFile(repoDir, commit, item.file, result.sha256);
  });
  if (known) linkSnapshotFile(repoDir, commit, item.file, known);
}

/**
 * Offline check of a cached snapshot after a load failed on it: every LFS blob (named by its sha256) is hashed;
 * one that does not match is removed with its link and reported as HubCacheCorruptError naming the file.
 */
export async function verifyCachedSnapshot(snapshotDir: string): Promise<void> {
  for (const entry of fs.readdirSync(snapshotDir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    if (!entry.isSymbolicLink()) continue;
    const blob = path.resolve(path.dirname(file), fs.readlinkSync(file));
    if (!fs.existsSync(blob)) continue;
    const name = path.basename(blob);
    // LFS blobs are named by their sha256, git-stored ones by their git blob id (see gitBlobFromEtag).
    const kind = sha256FromEtag(name) ? "sha256" : /^[0-9a-f]{40}$/.test(name) ? "git blob id" : null;
    if (!kind) continue;
    const actual = kind === "sha256" ? await sha256OfFile(blob) : gitBlobIdOfFile(blob, fs.statSync(blob).size);
    if (actual !== name) {
      fs.rmSync(blob, { force: true });
      fs.rmSync(file, { force: true });
      throw new HubCacheCorruptError(file, `failed its ${kind} check (content ${actual}, blob name ${name})`);
    }
  }
}
