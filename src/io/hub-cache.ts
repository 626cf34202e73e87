// The Hugging Face hub cache, laid out exactly as Python's huggingface_hub does, so a model downloaded
// from Python is found here without network and the reverse:
//   <cache>/models--<owner>--<name>/blobs/<etag>                 file contents, named by ETag
//   <cache>/models--<owner>--<name>/snapshots/<commit>/<file>   symlink to ../../blobs/<etag>
//   <cache>/models--<owner>--<name>/refs/<revision>              the commit the revision pointed to
//   <cache>/models--<owner>--<name>/.no_exist/<commit>/<file>    an optional file the repo lacks
// Ids, revisions and file names are validated before any of them becomes a path, so none can escape it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HubPathError } from "../errors";

const ID_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const FILE_PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const REVISION = /^[A-Za-z0-9_][A-Za-z0-9_./-]*$/;
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** "owner/name" or a legacy un-namespaced "name", as huggingface_hub's validate_repo_id accepts them. */
export function checkRepoId(id: string): void {
  if (typeof id !== "string" || id.length === 0) throw new HubPathError("model id", String(id), "is empty");
  if (id.length > 96) throw new HubPathError("model id", id, "is longer than 96 characters");
  if (id.includes("..") || id.includes("--")) throw new HubPathError("model id", id, 'contains ".." or "--"');
  const parts = id.split("/");
  if (parts.length > 2 || !parts.every((p) => ID_PART.test(p))) {
    throw new HubPathError("model id", id, "is not owner/name made of letters, digits, '-', '_' and '.'");
  }
}

export function checkRevision(revision: string): void {
  if (typeof revision !== "string" || revision.length === 0 || revision.length > 256) {
    throw new HubPathError("revision", String(revision), "must be a branch, tag or commit name of 1-256 characters");
  }
  if (!REVISION.test(revision) || revision.includes("..") || revision.includes("//") || revision.endsWith("/")) {
    throw new HubPathError("revision", revision, "holds characters or '..' / '//' that a branch, tag or commit name cannot");
  }
}

/** A repository-relative file name: plain segments joined by '/', no '..', no absolute path, no backslash. */
export function checkFileName(name: string, argument = "file name"): void {
  if (typeof name !== "string" || name.length === 0 || name.length > 512) throw new HubPathError(argument, String(name), "is empty or too long");
  const segments = name.split("/");
  if (!segments.every((s) => FILE_PART.test(s)) || segments.includes("..")) {
    throw new HubPathError(argument, name, "is not a relative file name (plain segments of letters, digits, '-', '_', '.')");
  }
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "true", "yes", "on"].includes(value.toLowerCase());
}

/** True when HF_HUB_OFFLINE asks for no network. */
export function hubOffline(): boolean {
  return truthy(process.env.HF_HUB_OFFLINE);
}

/** $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(override?: string): string {
  if (override) return path.resolve(override);
  const env = process.env;
  if (env.HF_HUB_CACHE) return path.resolve(env.HF_HUB_CACHE);
  if (env.HF_HOME) return path.resolve(env.HF_HOME, "hub");
  const cacheHome = env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.resolve(cacheHome, "huggingface", "hub");
}

export function repoCacheDir(cacheDir: string, id: string): string {
  checkRepoId(id);
  return path.join(cacheDir, `models--${id.split("/").join("--")}`);
}

/** The commit a revision resolves to in the cache: refs/<revision>, or the revision itself (a commit hash). */
export function cachedCommit(repoDir: string, revision: string): string | null {
  checkRevision(revision);
  const ref = path.join(repoDir, "refs", revision);
  if (fs.existsSync(ref)) {
    const commit = fs.readFileSync(ref, "utf8").trim();
    return commit.length > 0 && REVISION.test(commit) && !commit.includes("..") ? commit : null;
  }
  return fs.existsSync(path.join(repoDir, "snapshots", revision)) ? revision : null;
}

/** Blob name from an ETag: quotes and the weak-validator prefix removed, as huggingface_hub normalises it. */
export function blobNameFromEtag(etag: string | null): string | null {
  if (!etag) return null;
  const name = etag.replace(/^W\//, "").replace(/^"|"$/g, "");
  return FILE_PART.test(name) && name.length <= 128 ? name : null;
}

/** Points snapshots/<commit>/<file> at blobs/<blob> with a relative symlink (a copy where links are refused). */
export function linkSnapshotFile(repoDir: string, commit: string, file: string, blob: string): string {
  const target = path.join(repoDir, "snapshots", commit, file);
  const blobPath = path.join(repoDir, "blobs", blob);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.rmSync(target, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(target), blobPath), target);
  } catch {
    fs.copyFileSync(blobPath, target);
  }
  return target;
}

/** Records that an optional file does not exist at a commit, so offline loads need not ask again. */
export function markMissing(repoDir: string, commit: string, file: string): void {
  const marker = path.join(repoDir, ".no_exist", commit, file);
  fs.mkdirSync(path.dirname(marker), { recursive: true });
  fs.writeFileSync(marker, "");
}

export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const ref = path.join(repoDir, "refs", revision);
  fs.mkdirSync(path.dirname(ref), { recursive: true });
  fs.writeFileSync(ref, commit);
}
