// Downloads a checkpoint from the Hugging Face hub (or a mirror named by HF_ENDPOINT) into the cache
// Python's huggingface_hub uses, and returns the snapshot directory for openCheckpoint. A snapshot that is
// already complete in the cache is used without any network request, so a second load works offline.
// We write our own small client rather than use transformers.js's cache (a different layout, invisible to
// Python) so that models fetched from Python are reused and vice versa.
import fs from "node:fs";
import path from "node:path";
import { HubDownloadError, MissingFileError, SafetensorsFormatError } from "../errors";
import {
  blobNameFromEtag, cachedCommit, checkFileName, checkRepoId, checkRevision, COMMIT_HASH, hubCacheDir, hubOffline,
  linkSnapshotFile, markMissing, repoCacheDir, writeRef,
} from "./hub-cache";
import { downloadToFile, fetchMetadata, type FileMetadata, type HttpOptions } from "./hub-http";
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
  const cached = completeSnapshot(repoDir, revision);
  if (cached) return cached;
  if (options.offline ?? hubOffline()) {
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
    for (const item of items) await fetchFile(repoDir, commit, item, http, progress, options.onProgress);
  };
  if (sharded) {
    // The index names the shards; fetch it, then plan them.
    await fetchAll(planned.splice(planned.length - 1, 1));
    for (const shard of shardsOf(path.join(repoDir, "snapshots", commit, INDEX_FILE))) await plan(shard, true);
  }
  const sizes = planned.map((p) => p.meta.size);
  progress.total = sizes.every((s) => s !== null) ? progress.bytes + sizes.reduce((a, b) => a! + b!, 0)! : null;
  await fetchAll(planned);
  writeRef(repoDir, revision, commit);
  return path.join(repoDir, "snapshots", commit);
}

async function fetchFile(
  repoDir: string,
  commit: string,
  item: Planned,
  http: HttpOptions,
  progress: { bytes: number; total: number | null },
  onProgress?: (p: DownloadProgress) => void,
): Promise<void> {
  const blobs = path.join(repoDir, "blobs");
  fs.mkdirSync(blobs, { recursive: true });
  const known = blobNameFromEtag(item.meta.etag);
  if (known && fs.existsSync(path.join(blobs, known))) {
    linkSnapshotFile(repoDir, commit, item.file, known);
    return;
  }
  // Without a usable ETag the blob is named by the sha256 of its content, computed while it streams.
  const partial = path.join(blobs, `${known ?? `pending-${process.pid}-${Date.now()}`}.incomplete`);
  let fileBytes = 0;
  const result = await downloadToFile(item.meta.downloadUrl, partial, item.meta.size, http, (delta) => {
    fileBytes += delta;
    progress.bytes += delta;
    onProgress?.({ file: item.file, fileBytes, fileTotal: item.meta.size, bytes: progress.bytes, total: progress.total });
  });
  const blob = known ?? result.sha256;
  fs.renameSync(partial, path.join(blobs, blob));
  linkSnapshotFile(repoDir, commit, item.file, blob);
}
