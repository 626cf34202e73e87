// What made a result: the lmprobe version, the model's source (hub id and resolved commit, or a local path), content
// hashes of its weights, config and tokenizer, the dtypes the weights are stored in, the backend and its kernel path,
// the seed where sampling was involved, Node's version and the date. Exported tables, charts and reports carry it,
// so a shared notebook says which weights and which code produced each number, and checkReproduction() can rerun it.
import fs from "node:fs";
import path from "node:path";
import { describeBackend } from "../backend/describe";
import { ArgumentError } from "../errors";
import { sha256File, sha256Of, type HashProgress } from "../io/content-hash";
import { COMMIT_HASH } from "../io/hub-cache";
import { packageRoot } from "../io/package-root";
import { INDEX_FILE, SINGLE_FILE } from "../io/safetensors-weights";
import type { LanguageModel } from "./model";

export interface ModelSource {
  /** What the user passed to loadModel ("demo", a directory, a hub id). */
  source: string;
  /** The checkpoint directory the weights were read from. */
  dir: string;
  /** Hub revision asked for (hub ids only). */
  revision?: string;
}

/** What made a result: version, model source, weight/config/tokenizer hashes, dtypes, backend, seed, Node, date. */
export interface Provenance {
  lmprobe: string;
  model: { source: string; kind: "demo" | "local" | "hub"; path: string; revision: string | null; commit: string | null };
  weights: { sha256: string; files: { file: string; bytes: number; sha256: string }[]; dtypes: string[] };
  config: { sha256: string };
  tokenizer: { sha256: string };
  backend: { name: string; kernels: string };
  seed: number | null;
  node: string;
  date: string;
}

const sources = new WeakMap<LanguageModel, ModelSource>();
const records = new WeakMap<LanguageModel, { pending: Promise<Provenance>; ready: Provenance | null }>();
const loaded = new Set<WeakRef<LanguageModel>>();

/** Records where a model came from (loadModel calls it) and starts hashing its files in the background. */
export function recordModelSource(model: LanguageModel, source: ModelSource): void {
  sources.set(model, source);
  loaded.add(new WeakRef(model));
  const entry = { pending: provenance(model), ready: null as Provenance | null };
  entry.pending.then((p) => (entry.ready = p)).catch(() => undefined);
  records.set(model, entry);
}

/** The provenance of a loaded model once its files are hashed (null before that), without waiting. */
export function provenanceIfReady(model: LanguageModel): Provenance | null {
  return records.get(model)?.ready ?? null;
}

/**
 * The one model this process has loaded and not disposed, or null when there are several (then a result's
 * maker is ambiguous, and displays name it only when told which: show(x, { model })).
 */
export function onlyLoadedModel(): LanguageModel | null {
  const live = [...loaded].map((r) => r.deref()).filter((m): m is LanguageModel => m !== undefined && !disposed.has(m));
  return live.length === 1 ? live[0] : null;
}

const disposed = new WeakSet<LanguageModel>();

/** Marks a model as gone (LanguageModel.dispose calls it). */
export function forgetModel(model: LanguageModel): void {
  disposed.add(model);
}

export function modelSource(model: LanguageModel): ModelSource | undefined {
  return sources.get(model);
}

/**
 * The files that hold the weights, as the loader reads them: the shards model.safetensors.index.json lists, else
 * model.safetensors, else the directory's one .gguf file (a reference file or a cache beside them is not weights).
 */
function weightFilesOf(dir: string): string[] {
  const index = path.join(dir, INDEX_FILE);
  if (fs.existsSync(index)) {
    const map = (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {};
    return [...new Set(Object.values(map))].sort().map((f) => path.join(dir, f));
  }
  if (fs.existsSync(path.join(dir, SINGLE_FILE))) return [path.join(dir, SINGLE_FILE)];
  return fs.readdirSync(dir).filter((f) => f.endsWith(".gguf")).sort().map((f) => path.join(dir, f));
}
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt"];

function hashFiles(dir: string, names: string[]): string {
  const present = names.filter((n) => fs.existsSync(path.join(dir, n)));
  return sha256Of(present.map((n) => `${n}\n${sha256Of(fs.readFileSync(path.join(dir, n)))}\n`).join(""));
}

function storedDtypes(files: string[]): string[] {
  const dtypes = new Set<string>();
  for (const file of files.filter((f) => f.endsWith(".safetensors"))) {
    const fd = fs.openSync(file, "r");
    try {
      const head = Buffer.alloc(8);
      fs.readSync(fd, head, 0, 8, 0);
      const size = Number(head.readBigUInt64LE(0));
      if (size > 100_000_000) continue; // not a header we should read here; the loader validated it already
      const json = Buffer.alloc(size);
      fs.readSync(fd, json, 0, size, 8);
      for (const [name, entry] of Object.entries(JSON.parse(json.toString("utf8")) as Record<string, { dtype?: string }>)) {
        if (name !== "__metadata__" && entry.dtype) dtypes.add(entry.dtype);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  if (files.some((f) => f.endsWith(".gguf"))) dtypes.add("GGUF");
  return [...dtypes].sort();
}

/** The provenance of results made with `model` now (hashes weights once; later calls read the cache). */
export async function provenance(model: LanguageModel, options: { seed?: number; onProgress?: (p: HashProgress) => void } = {}): Promise<Provenance> {
  const src = sources.get(model);
  if (!src) throw new ArgumentError("model", "was not loaded by loadModel, so its files are unknown", "load it with loadModel(), or call recordModelSource(model, { source, dir })");
  const dir = src.dir;
  const stat = fs.statSync(dir);
  const weightFiles = stat.isFile() ? [dir] : weightFilesOf(dir);
  const files = [];
  for (const file of weightFiles) files.push({ file: path.basename(file), bytes: fs.statSync(file).size, sha256: await sha256File(file, options.onProgress) });
  const base = stat.isFile() ? path.dirname(dir) : dir;
  // A hub snapshot directory is named by its commit.
  const snapshot = path.basename(dir);
  const isHub = path.basename(path.dirname(dir)) === "snapshots" && COMMIT_HASH.test(snapshot);
  const kind = src.source === "demo" || src.source === "lmprobe-demo" ? "demo" : isHub ? "hub" : "local";
  const version = JSON.parse(fs.readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version as string;
  return {
    lmprobe: version,
    model: { source: src.source, kind, path: dir, revision: isHub ? src.revision ?? "main" : null, commit: isHub ? snapshot : null },
    weights: { sha256: sha256Of(files.map((f) => `${f.file}\n${f.sha256}\n`).join("")), files, dtypes: storedDtypes(weightFiles) },
    config: { sha256: hashFiles(base, ["config.json", "generation_config.json"]) },
    tokenizer: { sha256: hashFiles(base, TOKENIZER_FILES) },
    backend: describeBackend(),
    seed: options.seed ?? null,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** One line: "lmprobe 0.1.0 · Qwen/Qwen2.5-0.5B@a1b2c3d · weights 3f2a…91c0 (BF16) · cpu-native · Node v20.20.2 · 2026-12-06". */
export function provenanceLine(p: Provenance): string {
  const where = p.model.kind === "hub" ? `${p.model.source}@${p.model.commit?.slice(0, 7)}` : p.model.kind === "demo" ? "demo model" : p.model.path;
  const seed = p.seed === null ? "" : ` · seed ${p.seed}`;
  return `lmprobe ${p.lmprobe} · ${where} · weights ${p.weights.sha256.slice(0, 12)} (${p.weights.dtypes.join(", ")}) · ${p.backend.name}${seed} · Node ${p.node} · ${p.date.slice(0, 10)}`;
}

/** The fields of `b` that differ from `a` ("weights.sha256", "backend.name", …); the date never counts. */
export function provenanceDifferences(a: Provenance, b: Provenance): string[] {
  const flat = (p: Provenance): Record<string, string> => ({
    lmprobe: p.lmprobe,
    "model.source": p.model.source,
    "model.commit": String(p.model.commit),
    "weights.sha256": p.weights.sha256,
    "weights.dtypes": p.weights.dtypes.join(","),
    "config.sha256": p.config.sha256,
    "tokenizer.sha256": p.tokenizer.sha256,
    "backend.name": p.backend.name,
    "backend.kernels": p.backend.kernels,
    seed: String(p.seed),
    node: p.node,
  });
  const [fa, fb] = [flat(a), flat(b)];
  return Object.keys(fa).filter((k) => fa[k] !== fb[k]);
}
