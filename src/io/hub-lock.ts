// A per-blob lock shared by every process writing into one hub cache, so that two notebooks opening the same
// model at once download each file once. huggingface_hub takes an flock on <cache>/.locks/<repo>/<blob>.lock;
// Node has no flock, so the lock here is a file created with O_EXCL (atomic on local file systems) holding
// the owner's host, pid and a token, and refreshed (mtime) while the owner works. A lock whose owner is a dead
// process on this host, or that has not been refreshed for `staleMs`, is taken over.
//
// Integrity never rests on the lock: every writer streams into its own uniquely named temporary file, checks
// the content (sha256 / size) and only then renames it into place, so even two writers that both believe they
// hold the lock (a lock broken as stale on a slow network file system) each install a whole, verified blob.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LockOptions {
  /** A lock not refreshed for this long is stale; default 60 s (the owner refreshes it every staleMs / 4). */
  staleMs?: number;
  /** How often a waiter looks again; default 50 ms. */
  pollMs?: number;
}

interface LockContent {
  host: string;
  pid: number;
  token: string;
}

function readLock(file: string): LockContent | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    return parsed && typeof parsed.pid === "number" && typeof parsed.host === "string" && typeof parsed.token === "string" ? parsed : null;
  } catch {
    return null;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when the lock at `file` belongs to nobody alive: a dead owner on this host, or no refresh for staleMs. */
function isStale(file: string, staleMs: number): boolean {
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch {
    return false; // gone: not stale, simply free
  }
  const owner = readLock(file);
  if (owner && owner.host === os.hostname() && owner.pid !== process.pid && !processAlive(owner.pid)) return true;
  // An unreadable lock may be one being written this instant: only its age can condemn it.
  return Date.now() - mtimeMs > staleMs;
}

/** Removes a stale lock without removing a fresh one that replaced it meanwhile: rename is atomic, then re-check. */
function breakStaleLock(file: string, staleMs: number): void {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // someone else broke or released it
  }
  if (isStale(aside, staleMs)) {
    fs.rmSync(aside, { force: true });
    return;
  }
  // We moved a lock taken between our check and our rename: put it back unless another was taken since.
  try {
    fs.linkSync(aside, file);
  } catch {
    // another lock exists now; the displaced owner's temp-file-and-verify keeps its blob whole regardless
  }
  fs.rmSync(aside, { force: true });
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/**
 * Runs `work` holding the lock `file` (created with its directory), waiting for another holder to finish.
 * The lock is removed afterwards, also when `work` throws.
 */
export async function withFileLock<T>(file: string, work: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const staleMs = options.staleMs ?? 60_000;
  const pollMs = options.pollMs ?? 50;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const mine: LockContent = { host: os.hostname(), pid: process.pid, token: randomBytes(8).toString("hex") };
  for (;;) {
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
      try {
        fs.writeSync(fd, JSON.stringify(mine));
      } finally {
        fs.closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (isStale(file, staleMs)) breakStaleLock(file, staleMs);
    else await sleep(pollMs);
  }
  const refresh = setInterval(() => {
    const now = new Date();
    try {
      fs.utimesSync(file, now, now);
    } catch {
      // the lock was broken under us; the work's own verification still guards the result
    }
  }, Math.max(10, staleMs / 4));
  refresh.unref();
  try {
    return await work();
  } finally {
    clearInterval(refresh);
    // Remove the lock only if it is still ours (it may have been broken and retaken by another).
    if (readLock(file)?.token === mine.token) fs.rmSync(file, { force: true });
  }
}
