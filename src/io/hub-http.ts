// HTTP side of hub downloads: a metadata request per file (commit, ETag, size, where the bytes live) and a
// streamed download into blobs/<name>.incomplete, renamed only once the byte count matches the announced
// size. An interrupted transfer therefore never leaves a file that passes for a whole one.
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

/** Metadata of one file, or null when the repository has no such file (HTTP 404). */
export async function fetchMetadata(url: string, options: HttpOptions): Promise<FileMetadata | null> {
  let current = url;
  // Relative redirects (a renamed repository) are followed; an absolute one points at the CDN holding an
  // LFS file's bytes, and its own headers carry the file's metadata.
  for (let hop = 0; hop < 5; hop++) {
    let response: Response;
    try {
      response = await fetch(current, { method: "HEAD", redirect: "manual", headers: headersFor(current, options), signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
    } catch (e) {
      throw new HubDownloadError(current, `no response (${(e as Error).message})`, "check your network or HF_ENDPOINT; set HF_HUB_OFFLINE=1 to use only the local cache");
    }
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

/**
 * Streams `url` into `partialPath`, checking the byte count against `expectedSize` (from the metadata or
 * Content-Length). On any failure the partial file is removed and HubDownloadError thrown.
 */
export async function downloadToFile(
  url: string,
  partialPath: string,
  expectedSize: number | null,
  options: HttpOptions,
  onBytes: (delta: number) => void,
): Promise<DownloadResult> {
  const hash = createHash("sha256");
  let written = 0;
  let fd: number | null = null;
  // A stalled connection aborts after timeoutMs without data; a slow but moving one never does.
  const controller = new AbortController();
  const stallMs = options.timeoutMs ?? 30_000;
  let stall = setTimeout(() => controller.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
  const progressed = () => {
    clearTimeout(stall);
    stall = setTimeout(() => controller.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
  };
  try {
    const response = await fetch(url, { redirect: "follow", headers: headersFor(url, options), signal: controller.signal });
    progressed();
    if (response.status !== 200 || !response.body) throw statusError(url, response.status);
    const announced = sizeHeader(response.headers.get("content-length"));
    const size = expectedSize ?? announced;
    if (expectedSize !== null && announced !== null && announced !== expectedSize) {
      throw new HubDownloadError(url, `Content-Length ${announced} differs from the announced size ${expectedSize}`);
    }
    fd = fs.openSync(partialPath, "w");
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      fs.writeSync(fd, chunk);
      hash.update(chunk);
      written += chunk.length;
      progressed();
      onBytes(chunk.length);
    }
    if (size !== null && written !== size) {
      throw new HubDownloadError(url, `received ${written} of ${size} bytes (the connection ended early)`);
    }
    fs.closeSync(fd);
    fd = null;
    return { bytes: written, sha256: hash.digest("hex") };
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(partialPath, { force: true });
    if (e instanceof HubDownloadError) throw e;
    const reason = controller.signal.aborted ? (controller.signal.reason as Error).message : (e as Error).message;
    throw new HubDownloadError(url, `interrupted after ${written} bytes (${reason})`, "load again to restart the download");
  } finally {
    clearTimeout(stall);
  }
}
