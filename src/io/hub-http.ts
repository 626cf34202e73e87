// HTTP side of hub downloads: a metadata request per file (commit, ETag, size, where the bytes live) and a
// streamed download into a temporary file of the caller's, checked against the announced size and, for LFS
// files, the sha256 their ETag names, before the caller renames it into the cache. A dropped connection is
// resumed with a Range request; an interrupted or altered transfer never leaves a file that passes for whole.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { HubDownloadError } from "../errors";

export interface FileMetadata {
  /** x-repo-commit, when the server sends it. */
  commit: string | null;
  /** x-linked-etag (LFS files) or ETag, as sent. */
  etag: string | null;
  /** x-linked-size or Content-Length, when sent. */
  size: number | null;
  /** Where to GET the bytes (the CDN location of LFS files, else the resolve URL). */
  downloadUrl: string;
}

export interface HttpOptions {
  /** Sent as "Authorization: Bearer …" to the endpoint's own origin only, never to a CDN it redirects to. */
  token?: string;
  endpoint: string;
  /** Milliseconds to wait for response headers. */
  timeoutMs?: number;
}

function headersFor(url: string, options: HttpOptions): Record<string, string> {
  const headers: Record<string, string> = { "user-agent": "lmprobe", "accept-encoding": "identity" };
  if (options.token && new URL(url).origin === new URL(options.endpoint).origin) headers.authorization = `Bearer ${options.token}`;
  return headers;
}

function sizeHeader(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value)) return null;
  return Number(value);
}

function statusError(url: string, status: number): HubDownloadError {
  if (status === 401 || status === 403) {
    return new HubDownloadError(url, `HTTP ${status}`, "the model is gated or private: accept its licence on the hub and set HF_TOKEN to an access token");
  }
  if (status === 404) return new HubDownloadError(url, "HTTP 404 (no such repository, revision or file)", "check the model id and the revision");
  return new HubDownloadError(url, `HTTP ${status}`);
}

/** A HEAD request, asked again (up to MAX_ATTEMPTS in all) when the connection fails or the server answers 5xx / 429. */
async function headWithRetries(url: string, options: HttpOptions): Promise<Response> {
  let problem = "";
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (attempt > 1) await new Promise((ok) => setTimeout(ok, 100 * 2 ** (attempt - 2)));
    try {
      const response = await fetch(url, { method: "HEAD", redirect: "manual", headers: headersFor(url, options), signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
      if (response.status < 500 && response.status !== 429) return response;
      problem = `HTTP ${response.status}`;
    } catch (e) {
      problem = `no response (${(e as Error).message})`;
    }
  }
  throw new HubDownloadError(url, `${problem}; gave up after ${MAX_ATTEMPTS} attempts`, "check your network or HF_ENDPOINT; set HF_HUB_OFFLINE=1 to use only the local cache");
}

/** Metadata of one file, or null when the repository has no such file (HTTP 404). */
export async function fetchMetadata(url: string, options: HttpOptions): Promise<FileMetadata | null> {
  let current = url;
  // Relative redirects (a renamed repository) are followed; an absolute one points at the CDN holding an
  // LFS file's bytes, and its own headers carry the file's metadata.
  for (let hop = 0; hop < 5; hop++) {
    const response = await headWithRetries(current, options);
    const h = response.headers;
    if (response.status === 404) return null;
    const meta = {
      commit: h.get("x-repo-commit"),
      etag: h.get("x-linked-etag") ?? h.get("etag"),
      size: sizeHeader(h.get("x-linked-size")) ?? sizeHeader(h.get("content-length")),
    };
    if (response.status >= 300 && response.status < 400) {
      const location = h.get("location");
      if (!location) throw new HubDownloadError(current, `HTTP ${response.status} without a Location header`);
      const next = new URL(location, current).toString();
      if (location.startsWith("/")) {
        current = next;
        continue;
      }
      return { ...meta, size: sizeHeader(h.get("x-linked-size")), downloadUrl: next };
    }
    if (response.status !== 200) throw statusError(current, response.status);
    return { ...meta, downloadUrl: current };
  }
  throw new HubDownloadError(url, "too many redirects");
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
}

/** What the bytes must be: the size (x-linked-size / Content-Length) and, for LFS files, the sha256 (its ETag). */
export interface Expected {
  size: number | null;
  sha256: string | null;
  /** For files the hub keeps in git (not LFS): the git blob id its ETag gives, sha1("blob <size>\0" + content). */
  gitBlob?: string | null;
}

/**
 * The git blob id of a non-LFS file on the hub: its ETag (40 hex digits), trusted as one only from a server that
 * also names the commit (x-repo-commit), as the hub does; a plain mirror's ETag may be anything.
 */
export function gitBlobFromEtag(etag: string | null, commit: string | null): string | null {
  const name = etag?.replace(/^W\//, "").replace(/^"|"$/g, "") ?? "";
  return commit && /^[0-9a-f]{40}$/.test(name) ? name : null;
}

export function gitBlobIdOfFile(file: string, size: number): string {
  const hash = createHash("sha1").update(`blob ${size}\0`);
  hash.update(fs.readFileSync(file));
  return hash.digest("hex");
}

/** An LFS file's ETag is the sha256 of its content (64 hex digits); other ETags (git sha1, mirrors') are not. */
export function sha256FromEtag(etag: string | null): string | null {
  const name = etag?.replace(/^W\//, "").replace(/^"|"$/g, "") ?? "";
  return /^[0-9a-f]{64}$/.test(name) ? name : null;
}

/** A failure worth another request: the connection (dropped, stalled, cut short) or the server (5xx, 429). */
class Retryable extends Error {}

const MAX_ATTEMPTS = 4;

/** The LFS sha256 / git blob id check of a finished body, as an error (null when it passes or there is none). */
function contentMismatch(url: string, tempPath: string, expected: Expected, sha256: string, written: number): HubDownloadError | null {
  if (expected.sha256 !== null && sha256 !== expected.sha256) {
    return new HubDownloadError(url, `the content's sha256 ${sha256} differs from the file's ETag ${expected.sha256} (${written} bytes received)`, "load again; if it persists the server or a proxy alters the file");
  }
  // Small git-stored files (config, tokenizer) are read again to hash them with git's length prefix, which is
  // only known once the body has ended when the server announced no size.
  if (expected.gitBlob && expected.sha256 === null) {
    const id = gitBlobIdOfFile(tempPath, written);
    if (id !== expected.gitBlob) {
      return new HubDownloadError(url, `the content's git blob id ${id} differs from the file's ETag ${expected.gitBlob} (${written} bytes received)`, "load again; if it persists the server or a proxy alters the file");
    }
  }
  return null;
}

/**
 * Streams `url` into `tempPath` (a name unique to this writer), checking the bytes against `expected`: a body
 * longer than announced is refused at once, a shorter one (the connection ended early) is resumed with a Range
 * request when the server supports it (else fetched again), and the content's sha256 must equal an LFS ETag.
 * On any failure the temporary file is removed and HubDownloadError thrown; on success the caller renames it.
 */
export async function downloadToFile(
  url: string,
  tempPath: string,
  expected: Expected,
  options: HttpOptions,
  onBytes: (delta: number) => void,
): Promise<DownloadResult> {
  let hash = createHash("sha256");
  let written = 0;
  let reported = 0;
  let size = expected.size;
  let lastProblem = "";
  // A temporary file already there is an interrupted download handed over by the caller: its bytes are
  // hashed again and the transfer resumes after them (unless it is already longer than the file).
  const fd = fs.openSync(tempPath, fs.existsSync(tempPath) ? "r+" : "w");
  const kept = fs.fstatSync(fd).size;
  if (kept > 0 && (size === null || kept <= size)) {
    const buffer = Buffer.alloc(1 << 20);
    for (let at = 0; at < kept; ) {
      const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, kept - at), at);
      if (n <= 0) break;
      hash.update(buffer.subarray(0, n));
      at += n;
      written = at;
    }
    fs.ftruncateSync(fd, written);
  } else if (kept > 0) {
    fs.ftruncateSync(fd, 0);
  }
  let closed = false;
  const close = () => {
    if (!closed) fs.closeSync(fd);
    closed = true;
  };
  try {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (size !== null && written === size) {
        // An adopted temporary file that is already whole: it still has to pass the content check.
        if (!contentMismatch(url, tempPath, expected, hash.copy().digest("hex"), written)) break;
        written = 0;
        hash = createHash("sha256");
        fs.ftruncateSync(fd, 0);
      }
      if (attempt > 1) await new Promise((ok) => setTimeout(ok, 100 * 2 ** (attempt - 2)));
      try {
        await receive(url, written, options, (chunk) => {
          if (size !== null && written + chunk.length > size) {
            throw new HubDownloadError(url, `the server sent more than the announced ${size} bytes`, "the server or a proxy is misbehaving; load again, or use another HF_ENDPOINT");
          }
          fs.writeSync(fd, chunk, 0, chunk.length, written);
          hash.update(chunk);
          written += chunk.length;
          // Progress only ever grows: bytes received again after a restart are not counted twice.
          if (written > reported) {
            onBytes(written - reported);
            reported = written;
          }
        }, (announcedTotal, from) => {
          if (from === 0 && written > 0) {
            // The server ignored our Range request and sent the whole file: start over.
            written = 0;
            hash = createHash("sha256");
            fs.ftruncateSync(fd, 0);
          }
          if (announcedTotal !== null) {
            if (size !== null && announcedTotal !== size) {
              throw new HubDownloadError(url, `the server announces ${announcedTotal} bytes but the file's metadata says ${size}`, "load again; if it persists the mirror is inconsistent");
            }
            size = announcedTotal;
          }
        });
        if (size !== null && written < size) throw new Retryable(`received ${written} of ${size} bytes (the connection ended early)`);
        const mismatch = contentMismatch(url, tempPath, expected, hash.copy().digest("hex"), written);
        if (!mismatch) break;
        // Altered or cut short in a way the framing did not show (a server that announced no size): fetch it
        // whole again while attempts remain.
        if (attempt === MAX_ATTEMPTS) throw mismatch;
        lastProblem = mismatch.message;
        written = 0;
        size = expected.size;
        hash = createHash("sha256");
        fs.ftruncateSync(fd, 0);
      } catch (e) {
        if (e instanceof HubDownloadError) throw e;
        lastProblem = e instanceof Retryable ? e.message : `interrupted after ${written} bytes (${(e as Error).message})`;
        if (attempt === MAX_ATTEMPTS) {
          throw new HubDownloadError(url, `${lastProblem}; gave up after ${MAX_ATTEMPTS} attempts`, "load again to resume the download");
        }
      }
    }
    close();
    const sha256 = hash.digest("hex");
    return { bytes: written, sha256 };
  } catch (e) {
    close();
    fs.rmSync(tempPath, { force: true });
    throw e;
  }
}

/**
 * One GET from byte `from`: calls `onStart(totalSize, startOffset)` once the headers say where the body
 * starts, then `onChunk` per chunk. Connection problems and 5xx/429 answers throw Retryable.
 */
async function receive(
  url: string,
  from: number,
  options: HttpOptions,
  onChunk: (chunk: Uint8Array) => void,
  onStart: (total: number | null, start: number) => void,
): Promise<void> {
  // A stalled connection aborts after timeoutMs without data; a slow but moving one never does.
  const controller = new AbortController();
  const stallMs = options.timeoutMs ?? 30_000;
  let stall = setTimeout(() => controller.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
  const progressed = () => {
    clearTimeout(stall);
    stall = setTimeout(() => controller.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
  };
  const headers = headersFor(url, options);
  if (from > 0) headers.range = `bytes=${from}-`;
  try {
    let response: Response;
    try {
      response = await fetch(url, { redirect: "follow", headers, signal: controller.signal });
    } catch (e) {
      throw new Retryable(`no response (${controller.signal.aborted ? (controller.signal.reason as Error).message : (e as Error).message})`);
    }
    progressed();
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel().catch(() => {});
      throw new Retryable(`HTTP ${response.status}`);
    }
    if (response.status === 416 && from > 0) {
      // The bytes we hold do not fit the file (it changed, or the partial was foreign): start over.
      await response.body?.cancel().catch(() => {});
      onStart(null, 0);
      throw new Retryable(`HTTP 416 for a Range request from byte ${from}`);
    }
    if (response.status === 206 && from > 0) {
      // Content-Range: bytes <first>-<last>/<total>; we asked for `from`, anything else is refused.
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
      if (!range || Number(range[1]) !== from) {
        throw new HubDownloadError(url, `the server answered a Range request from byte ${from} with Content-Range "${response.headers.get("content-range")}"`);
      }
      onStart(range[3] === "*" ? null : Number(range[3]), from);
    } else if (response.status === 200 && response.body) {
      onStart(sizeHeader(response.headers.get("content-length")), 0);
    } else {
      throw statusError(url, response.status);
    }
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        progressed();
        onChunk(chunk);
      }
    } catch (e) {
      if (e instanceof HubDownloadError) {
        controller.abort();
        throw e;
      }
      throw new Retryable(`connection lost (${controller.signal.aborted ? (controller.signal.reason as Error).message : (e as Error).message})`);
    }
  } finally {
    clearTimeout(stall);
  }
}
