// loadModel: the one call a notebook makes to get a model. "demo" (or nothing) is the embedded model, a
// directory is a local checkpoint, anything else a hub id. The memory check runs on the safetensors
// headers before any weight is read; the engine (model/build.ts) then converts the weights.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureBackend, setBackend, type BackendName } from "./backend";
import { MissingFileError } from "./errors";
import { openCheckpoint } from "./io/checkpoint";
import { downloadCheckpoint, type DownloadProgress } from "./io/hub";
import { resolveLocalStore } from "./io/gguf/local-stores";
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
}

function looksLikePath(source: string): boolean {
  return source.startsWith(".") || source.startsWith("/") || source.startsWith("~") || source.includes("\\") || /^[A-Za-z]:/.test(source);
}

/**
 * The checkpoint directory (or .gguf file) a source names: "ollama:name[:tag]" and "lmstudio:publisher/model"
 * resolve in those apps' local stores, a hub id is downloaded.
 */
export async function resolveCheckpointDir(source: string | undefined, options: LoadOptions = {}): Promise<string> {
  if (source === undefined || source === "demo") return demoModelDir();
  const expanded = source.startsWith("~") ? path.join(os.homedir(), source.slice(1)) : source;
  const local = resolveLocalStore(source);
  if (local) return local;
  if (fs.existsSync(expanded)) return path.resolve(expanded);
  if (looksLikePath(source)) {
    throw new MissingFileError(path.resolve(expanded), "checkpoint directory", 'check the path; a hub id looks like "owner/name" and "demo" loads the built-in model');
  }
  const { revision, cacheDir, onProgress, token, offline } = options;
  return downloadCheckpoint(source, { revision, cacheDir, onProgress, token, offline });
}

/**
 * Loads a model: `loadModel()` / `loadModel("demo")`, `loadModel("./my-checkpoint")`, `loadModel("Qwen/Qwen2.5-0.5B")`,
 * `loadModel("./model.Q4_K_M.gguf")`, `loadModel("ollama:llama3.2:1b")`, `loadModel("lmstudio:publisher/model")`.
 */
export async function loadModel(source?: string, options: LoadOptions = {}): Promise<LanguageModel> {
  if (options.backend) await setBackend(options.backend);
  else await ensureBackend();
  const dir = await resolveCheckpointDir(source, options);
  const checkpoint = openCheckpoint(dir);
  try {
    checkMemoryFits(estimateMemory(checkpoint.weights));
    return buildModel(checkpoint, source === undefined || source === "demo" ? "lmprobe-demo" : source);
  } finally {
    // The engine copies every weight it needs into tensors while building; the files are done with.
    checkpoint.weights.close();
  }
}
