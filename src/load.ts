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
import { resolveLocalStore } from "./io/gguf/local-stores";
import { chooseLayerStreaming, estimateMemory } from "./io/memory-estimate";
import { withDeferredWeightUploads } from "./backend/packed-weight";
import { demoModelDir } from "./io/package-root";
import { architectureStreamsLayers } from "./model/architectures";
import { buildModel } from "./model/build";
import type { LanguageModel } from "./model/model";
import { recordModelSource } from "./model/provenance";

/** Options of loadModel(): hub revision, cache, token and offline mode, backend, download progress. */
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
  /**
   * Read each block's weights from the checkpoint (dequantised, or widened from BF16/F16) when the forward pass
   * reaches it, keeping two blocks in float32 at most, instead of all at load. "auto" (default) does so only when
   * the float32 form does not fit the backend (a Llama-3.1-8B on a 24 GiB machine without a GPU); families that
   * cannot run that way (architectureStreamsLayers) are then refused with ModelTooLargeError, as "always" is with
   * UnsupportedFormatError.
   */
  layerStreaming?: "auto" | "always" | "never";
}

function looksLikePath(source: string): boolean {
  return source.startsWith(".") || source.startsWith("/") || source.startsWith("~") || source.includes("\\") || /^[A-Za-z]:/.test(source);
}

/** A hub id as loadModel reads `source` (not "demo", not a path), else null. */
function hubIdOf(source: string | undefined): string | null {
  if (source === undefined || source === "demo" || /^(ollama|lmstudio):/.test(source)) return null;
  const expanded = source.startsWith("~") ? path.join(os.homedir(), source.slice(1)) : source;
  return fs.existsSync(expanded) || looksLikePath(source) ? null : source;
}

/**
 * The checkpoint directory (or .gguf file) a source names: "ollama:name[:tag]" and "lmstudio:publisher/model"
 * resolve in those apps' local stores, a hub id is downloaded.
 */
export async function resolveCheckpointDir(source: string | undefined, options: LoadOptions & { verifyCache?: boolean; onConfig?: (configPath: string) => void } = {}): Promise<string> {
  if (source === undefined || source === "demo") return demoModelDir();
  const expanded = source.startsWith("~") ? path.join(os.homedir(), source.slice(1)) : source;
  const local = resolveLocalStore(source);
  if (local) return local;
  if (fs.existsSync(expanded)) return path.resolve(expanded);
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
function checkConfigFits(configPath: string, mode: LoadOptions["layerStreaming"] = "auto"): void {
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
  // A lower bound from config.json alone: refused here only if even the streamed form cannot fit.
  chooseLayerStreaming(estimateMemoryFromConfig(config), mode === "never" ? "never" : "auto", undefined, architectureStreamsLayers(config.modelType));
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

/**
 * Loads a model: `loadModel()` / `loadModel("demo")`, `loadModel("./my-checkpoint")`, `loadModel("Qwen/Qwen2.5-0.5B")`,
 * `loadModel("./model.Q4_K_M.gguf")`, `loadModel("ollama:llama3.2:1b")`, `loadModel("lmstudio:publisher/model")`.
 */
export async function loadModel(source?: string, options: LoadOptions = {}): Promise<LanguageModel> {
  if (options.backend) await setBackend(options.backend);
  else await ensureBackend();
  // Memory first: a model that cannot fit is refused as such before its weights are asked for.
  const dir = await resolveCheckpointDir(source, { ...options, onConfig: (file) => checkConfigFits(file, options.layerStreaming) });
  if (fs.statSync(dir).isDirectory()) checkConfigFits(path.join(dir, "config.json"), options.layerStreaming);
  const checkpoint = await openWithRepair(dir, hubIdOf(source), options);
  let streaming = false;
  try {
    const modelType = checkpoint.config.modelType;
    const familyStreams = architectureStreamsLayers(modelType);
    if (options.layerStreaming === "always" && !familyStreams) {
      throw new UnsupportedFormatError(checkpoint.dir, `reading ${modelType} blocks as the forward pass reaches them (layerStreaming: "always")`, `leave layerStreaming at "auto" (it loads ${modelType} whole when it fits)`);
    }
    streaming = chooseLayerStreaming(estimateMemory(checkpoint.weights), options.layerStreaming, undefined, familyStreams);
    if (streaming) checkpoint.weights.streamLayers = true;
    // Packed 16-bit weights (webgpu) are written after the build, one at a time, with host memory bounded.
    const model = await withDeferredWeightUploads(() => buildModel(checkpoint, source === undefined || source === "demo" ? "lmprobe-demo" : source), (m) => m.dispose());
    if (streaming && !model.weights.layerWeights) {
      model.dispose();
      // architectureStreamsLayers listed a family whose converter ignored WeightSource.streamLayers.
      throw new UnsupportedFormatError(checkpoint.dir, `reading ${model.config.modelType} blocks as the forward pass reaches them`, "use a smaller quantisation or a backend with more memory");
    }
    recordModelSource(model, { source: source ?? "demo", dir, revision: options.revision });
    return model;
  } catch (e) {
    if (streaming) checkpoint.weights.close();
    throw e;
  } finally {
    // Built eagerly, the engine holds every weight in tensors and the files are done with; streamed, the model
    // reads its blocks from them and closes them when disposed.
    if (!streaming) checkpoint.weights.close();
  }
}
