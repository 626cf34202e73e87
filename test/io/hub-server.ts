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
}

export interface HubServer {
  endpoint: string;
  /** Every request as "METHOD path". */
  requests: string[];
  commitOf(id: string): string;
  close(): Promise<void>;
}

export function commitOf(id: string): string {
  return createHash("sha1").update(`commit of ${id}`).digest("hex");
}

export async function startHubServer(options: ServerOptions): Promise<HubServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
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
        "x-linked-size": body.length,
        "content-length": 0,
      }).end();
      return;
    }
    res.writeHead(200, { ...headers, "content-length": body.length, "content-type": "application/octet-stream" });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    if (options.cutFile === match.file) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    commitOf,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
