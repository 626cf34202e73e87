// sha256 of checkpoint files, for provenance. A file in the hub cache whose blob is named by a 64-hex ETag is an
// LFS file whose ETag is its sha256 (checked when it was downloaded): that name is its hash, nothing to read.
// Any other file is hashed once, streaming, and the result is cached by real path, size and modification time
// (in $LMPROBE_CACHE or ~/.cache/lmprobe/sha256.json), so a multi-gigabyte checkpoint is read once.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface HashProgress {
  file: string;
  bytes: number;
  total: number;
}

interface CacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

function cacheFile(): string {
  const root = process.env.LMPROBE_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "lmprobe");
  return path.join(root, "sha256.json");
}

function readCache(): Record<string, CacheEntry> {
  try {
    return JSON.parse(fs.readFileSync(cacheFile(), "utf8"));
  } catch {
    return {}; // no cache yet, or an unreadable one: hash again
  }
}

function writeCache(entries: Record<string, CacheEntry>): void {
  try {
    const file = cacheFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(entries));
    fs.renameSync(tmp, file);
  } catch {
    // A read-only home only costs hashing again next time.
  }
}

/** The sha256 an LFS blob's name states (hub cache: snapshots/<rev>/<file> → blobs/<sha256>), or null. */
export function lfsSha256(file: string): string | null {
  try {
    const real = fs.realpathSync(file);
    const name = path.basename(real);
    return path.basename(path.dirname(real)) === "blobs" && /^[0-9a-f]{64}$/.test(name) ? name : null;
  } catch {
    return null;
  }
}

/** sha256 of a file's bytes (hex), from its LFS name, the cache, or by reading it. */
export async function sha256File(file: string, onProgress?: (p: HashProgress) => void): Promise<string> {
  const fromName = lfsSha256(file);
  if (fromName) return fromName;
  const real = fs.realpathSync(file);
  const stat = fs.statSync(real);
  const cache = readCache();
  const hit = cache[real];
  if (hit && hit.size === stat.size && hit.mtimeMs === stat.mtimeMs) return hit.sha256;
  const hash = createHash("sha256");
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(real, { highWaterMark: 8 << 20 })
      .on("data", (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
        onProgress?.({ file, bytes, total: stat.size });
      })
      .on("error", reject)
      .on("end", () => resolve());
  });
  const sha256 = hash.digest("hex");
  writeCache({ ...readCache(), [real]: { size: stat.size, mtimeMs: stat.mtimeMs, sha256 } });
  return sha256;
}

/** sha256 of a string or bytes (hex). */
export function sha256Of(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
