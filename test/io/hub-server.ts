// A loopback stand-in for the Hugging Face hub: serves fixture checkpoints under
// /{owner}/{name}/resolve/{revision}/{file} with the hub's headers (x-repo-commit, ETag; safetensors files
// answered like LFS files: a redirect to a CDN path carrying x-linked-etag and x-linked-size).
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

export interface ServerOptions {
  /** id → directory served as that repository. */
  repos: Record<string, string>;
  /** Send only the bytes, no x-repo-commit or ETag headers (a plain file mirror). */
  plain?: boolean;
  /** Cut the connection after half of this file's bytes. */
  cutFile?: string;
  /** Answer 401 unless this bearer token is sent. */
  token?: string;
  /** Extra files per repository (name → content) served beside the directory's. */
  extra?: Record<string, Record<string, Buffer>>;
  /** Announce no size (no Content-Length, no x-linked-size): bodies are sent chunked. */
  noSize?: boolean;
  /** Send this file's bytes followed by garbage, the headers announcing the true size. */
  longFile?: string;
  /** Honour "Range: bytes=N-" with 206 and Accept-Ranges: bytes. */
  ranges?: boolean;
  /** Only the first `cutTimes` GETs of cutFile are cut (default: all). */
  cutTimes?: number;
  /** Send every GET body of this file in `chunks` pieces with a pause between them (widens race windows). */
  slowFile?: { file: string; chunks: number; pauseMs: number };
  /**
   * Fault injection for GETs of file bytes: called per GET with the file and a per-server counter; returns
   * what to do ("ok", a 5xx status, "drop" the connection before any byte, "cut" after half the body,
   * "stall" (send nothing, keep the socket), "flip" (one byte changed)).
   */
  fault?: (file: string, n: number) => "ok" | "drop" | "cut" | "stall" | "flip" | number;
  /** Fault injection for metadata (HEAD) requests: "drop" the connection or answer with a status. */
  headFault?: (file: string, n: number) => "ok" | "drop" | number;
}

export interface HubServer {
  endpoint: string;
  /** Every request as "METHOD path". */
  requests: string[];
  /** The Range header of every GET that sent one, as "path bytes=N-". */
  ranges: string[];
  commitOf(id: string): string;
  close(): Promise<void>;
}

export function commitOf(id: string): string {
  return createHash("sha1").update(`commit of ${id}`).digest("hex");
}

export async function startHubServer(options: ServerOptions): Promise<HubServer> {
  const requests: string[] = [];
  const ranges: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.headers.range) ranges.push(`${req.url} ${req.headers.range}`);
    const url = new URL(req.url ?? "/", "http://x");
    if (options.token && !url.pathname.startsWith("/cdn/") && req.headers.authorization !== `Bearer ${options.token}`) {
      res.writeHead(401).end();
      return;
    }
    const cdn = url.pathname.match(/^\/cdn\/([^/]+\/[^/]+)\/(.+)$/);
    const resolve = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    const match = cdn ? { id: cdn[1], file: decodeURIComponent(cdn[2]) } : resolve ? { id: resolve[1], file: decodeURIComponent(resolve[3]) } : null;
    const dir = match && options.repos[match.id];
    const extra = match && options.extra?.[match.id]?.[match.file];
    const filePath = dir && match ? path.join(dir, match.file) : null;
    if (!match || !dir || (!extra && (match.file.startsWith("reference") || !fs.existsSync(filePath!)))) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === "HEAD" && options.headFault) {
      const fault = options.headFault(match.file, faults++);
      if (fault === "drop") return void res.destroy();
      if (typeof fault === "number") return void res.writeHead(fault).end();
    }
    const body = extra ?? fs.readFileSync(filePath!);
    const lfs = match.file.endsWith(".safetensors");
    const headers: Record<string, string | number> = {};
    if (!options.plain) {
      headers["x-repo-commit"] = commitOf(match.id);
      headers.etag = lfs
        ? `"${createHash("sha256").update(body).digest("hex")}"`
        : `"${createHash("sha1").update(`blob ${body.length}\0`).update(body).digest("hex")}"`;
    }
    if (resolve && lfs && !options.plain) {
      const port = (server.address() as AddressInfo).port;
      res.writeHead(302, {
        ...headers,
        location: `http://127.0.0.1:${port}/cdn/${match.id}/${encodeURIComponent(match.file)}`,
        "x-linked-etag": headers.etag as string,
        ...(options.noSize ? {} : { "x-linked-size": body.length }),
        "content-length": 0,
      }).end();
      return;
    }
    if (options.ranges) headers["accept-ranges"] = "bytes";
    const range = options.ranges && req.method === "GET" ? /^bytes=(\d+)-$/.exec(req.headers.range ?? "") : null;
    const from = range ? Number(range[1]) : 0;
    if (range && from >= body.length) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      return;
    }
    const sent = body.subarray(from);
    if (options.noSize) {
      // A body delimited by closing the connection (no length, no chunking): an early close reads as the end.
      (res as unknown as { useChunkedEncodingByDefault: boolean }).useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
    }
    const sizeHeaders: Record<string, string | number> = options.noSize ? {} : { "content-length": sent.length };
    if (range) res.writeHead(206, { ...headers, ...sizeHeaders, "content-range": `bytes ${from}-${body.length - 1}/${body.length}`, "content-type": "application/octet-stream" });
    // A longer body than the metadata announced can only arrive unframed (chunked): its GET carries no length.
    else if (req.method === "GET" && options.longFile === match.file) res.writeHead(200, { ...headers, "content-type": "application/octet-stream" });
    else if (req.method === "HEAD" || !options.fault) res.writeHead(200, { ...headers, ...sizeHeaders, "content-type": "application/octet-stream" });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    if (options.fault) {
      const fault = options.fault(match.file, faults++);
      if (typeof fault === "number") {
        if (!range) res.writeHead(fault).end();
        else res.destroy();
        return;
      }
      if (!range) res.writeHead(200, { ...headers, ...sizeHeaders, "content-type": "application/octet-stream" });
      if (fault === "drop") return void res.destroy();
      if (fault === "stall") return void stalled.push(res);
      if (fault === "cut") return void res.write(sent.subarray(0, Math.floor(sent.length / 2)), () => res.destroy());
      if (fault === "flip" && sent.length > 0) {
        const copy = Buffer.from(sent);
        copy[Math.floor(copy.length / 2)] ^= 0x40;
        return void res.end(copy);
      }
      return void res.end(sent);
    }
    if (options.cutFile === match.file && (options.cutTimes === undefined || cuts++ < options.cutTimes)) {
      if (options.noSize) res.end(sent.subarray(0, Math.floor(sent.length / 2)));
      else res.write(sent.subarray(0, Math.floor(sent.length / 2)), () => res.destroy());
      return;
    }
    if (options.longFile === match.file) {
      res.end(Buffer.concat([sent, Buffer.from("trailing garbage")]));
      return;
    }
    if (options.slowFile?.file === match.file) {
      const { chunks, pauseMs } = options.slowFile;
      const step = Math.ceil(sent.length / chunks);
      let at = 0;
      const next = () => {
        if (res.destroyed) return;
        if (at >= sent.length) return void res.end();
        res.write(sent.subarray(at, at + step));
        at += step;
        setTimeout(next, pauseMs);
      };
      return void next();
    }
    res.end(sent);
  });
  let cuts = 0;
  let faults = 0;
  const stalled: http.ServerResponse[] = [];
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    ranges,
    commitOf,
    close: () => new Promise<void>((ok) => {
      for (const res of stalled) res.destroy();
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
