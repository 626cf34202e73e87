// loadModel: the one call a notebook makes to get a model. "demo" (or nothing) is the embedded model, a
// directory is a local checkpoint, anything else a hub id. The memory check runs on the safetensors
// headers before any weight is read; the engine (model/build.ts) then converts the weights.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBackend, setBackend, type BackendName } from "./backend";
import { ConfigError, MissingFileError, SafetensorsFormatError, UnsupportedFormatError } from "./errors";
import { type Checkpoint, openCheckpoint } from "./io/checkpoint";
import { normalizeConfig, type ModelConfig } from "./io/config";
import { estimateMemoryFromConfig } from "./io/memory-from-config";
import { downloadCheckpoint, type DownloadProgress } from "./io/hub";
import { checkMemoryFits, estimateMemory } from "./io/memory-estimate";
import { demoModelDir } from "./io/package-root";
import { buildModel } from "./model/build";
import type { LanguageModel } from "./model/model";

export interface LoadOptions {
  /** Hub revision (branch, tag or commit); default "main". */
  revision?: string;
  /** Hub cache root; default as Python's huggingface_hub. */
  cacheDir?: string;
  /** Download progress (hub ids only). */
  onProgress?: (progress: DownloadProgress) => void;
  /** tfjs backend to activate before loading; default the one ensureBackend() chooses. */
  backend?: BackendName;
  /** Hub access token for gated or private models; default $HF_TOKEN. */
  token?: string;
  /** Use only the local hub cache; default from $HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Hub downloads: milliseconds without response or data before a request is abandoned (and retried); default 30 s. */
  timeoutMs?: number;
}

function looksLikePath(source: string): boolean {
  return source.startsWith(".") || source.startsWith("/") || source.startsWith("~") || source.includes("\\") || /^[A-Za-z]:/.test(source);
}

/** A hub id as loadModel reads `source` (not "demo", not a path), else null. */
function hubIdOf(source: string | undefined): string | null {
  if (source === undefined || source === "demo") return null;
  const expanded = source.startsWith("~") ? path.join(os.homedir(), source.slice(1)) : source;
  return fs.existsSync(expanded) || looksLikePath(source) ? null : source;
}

/** The checkpoint directory a source names, downloading it from the hub when it is an id. */
export async function resolveCheckpointDir(source: string | undefined, options: LoadOptions & { verifyCache?: boolean; onConfig?: (configPath: string) => void } = {}): Promise<string> {
  if (source === undefined || source === "demo") return demoModelDir();
  const expanded = source.startsWith("~") ? path.join(os.homedir(), source.slice(1)) : source;
  if (fs.existsSync(expanded)) {
    if (expanded.endsWith(".gguf")) throw new UnsupportedFormatError(path.resolve(expanded), "GGUF");
    return path.resolve(expanded);
  }
  if (looksLikePath(source)) {
    throw new MissingFileError(path.resolve(expanded), "checkpoint directory", 'check the path; a hub id looks like "owner/name" and "demo" loads the built-in model');
  }
  const { revision, cacheDir, onProgress, token, offline, verifyCache, onConfig, timeoutMs } = options;
  return downloadCheckpoint(source, { revision, cacheDir, onProgress, token, offline, verifyCache, onConfig, timeoutMs });
}

/**
 * Refuses a model too large for the active backend from config.json alone (a lower bound of its weights),
 * before its weight files are looked for or downloaded. A config that cannot be read is left to
 * openCheckpoint, which names the problem.
 */
function checkConfigFits(configPath: string): void {
  const stat = fs.statSync(configPath, { throwIfNoEntry: false });
  if (!stat?.isFile()) return;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(configPath, "utf8"));
  } catch {
    return;
  }
  let config: ModelConfig;
  try {
    config = normalizeConfig(raw, configPath);
  } catch {
    return;
  }
  checkMemoryFits(estimateMemoryFromConfig(config));
}

/** Opens a hub snapshot; when a cached file fails to open, the cache is checked against the hub and fetched again once. */
async function openWithRepair(dir: string, hubId: string | null, options: LoadOptions): Promise<Checkpoint> {
  try {
    return openCheckpoint(dir);
  } catch (e) {
    if (!hubId || !(e instanceof SafetensorsFormatError || e instanceof ConfigError)) throw e;
    // A corrupt copy in the cache (a truncated download of an older lmprobe, a damaged disk) would fail on
    // every load; checking it against the hub removes it and fetches it again (offline: HubCacheCorruptError).
    const again = await resolveCheckpointDir(hubId, { ...options, verifyCache: true });
    return openCheckpoint(again);
  }
}

/** Loads a model: `loadModel()` / `loadModel("demo")`, `loadModel("./my-checkpoint")`, `loadModel("Qwen/Qwen2.5-0.5B")`. */
export async function loadModel(source?: string, options: LoadOptions = {}): Promise<LanguageModel> {
  if (options.backend) await setBackend(options.backend);
  else await ensureBackend();
  // Memory first: a model that cannot fit is refused as such before its weights are asked for.
  const dir = await resolveCheckpointDir(source, { ...options, onConfig: checkConfigFits });
  checkConfigFits(path.join(dir, "config.json"));
  const checkpoint = await openWithRepair(dir, hubIdOf(source), options);
  try {
    checkMemoryFits(estimateMemory(checkpoint.weights));
    return buildModel(checkpoint, source === undefined || source === "demo" ? "lmprobe-demo" : source);
  } finally {
    // The engine copies every weight it needs into tensors while building; the files are done with.
    checkpoint.weights.close();
  }
}
