// Models that local apps already downloaded, read in place (never written):
//  - Ollama: "ollama:name[:tag]" → the manifest manifests/<host>/<namespace>/<name>/<tag> under $OLLAMA_MODELS
//    (default ~/.ollama/models) names the model layer's blob, blobs/sha256-<hex>, which is a GGUF file.
//    A bare name is registry.ollama.ai/library/<name>; the tag defaults to "latest".
//  - LM Studio: "lmstudio:publisher/model[/file.gguf]" → ~/.lmstudio/models/… (or the older
//    ~/.cache/lm-studio/models/…; $LMPROBE_LMSTUDIO_MODELS overrides both).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ArgumentError, GgufFormatError, MissingFileError } from "../../errors";

const OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model";

export function ollamaModelsDir(): string {
  return process.env.OLLAMA_MODELS || path.join(os.homedir(), ".ollama", "models");
}

export function lmStudioModelsDirs(): string[] {
  if (process.env.LMPROBE_LMSTUDIO_MODELS) return [process.env.LMPROBE_LMSTUDIO_MODELS];
  return [path.join(os.homedir(), ".lmstudio", "models"), path.join(os.homedir(), ".cache", "lm-studio", "models")];
}

/** The local file or directory an "ollama:" / "lmstudio:" source names, or null for other sources. */
export function resolveLocalStore(source: string): string | null {
  if (source.startsWith("ollama:")) return resolveOllama(source.slice("ollama:".length));
  if (source.startsWith("lmstudio:")) return resolveLmStudio(source.slice("lmstudio:".length));
  return null;
}

/** Manifest path parts of an Ollama model reference: [host, namespace, name, tag]. */
function ollamaReference(ref: string): [string, string, string, string] {
  const colon = ref.lastIndexOf(":");
  const slash = ref.lastIndexOf("/");
  const [repo, tag] = colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, "latest"];
  const parts = repo.split("/");
  const valid = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
  if (repo === "" || parts.length > 3 || !parts.every((p) => valid.test(p)) || !valid.test(tag)) {
    throw new ArgumentError("source", `"ollama:${ref}" is not an Ollama model name`, 'write "ollama:name", "ollama:name:tag" or "ollama:namespace/name:tag", as `ollama list` shows them');
  }
  if (parts.length === 1) return ["registry.ollama.ai", "library", parts[0], tag];
  if (parts.length === 2) return ["registry.ollama.ai", parts[0], parts[1], tag];
  return [parts[0], parts[1], parts[2], tag];
}

function resolveOllama(ref: string): string {
  const root = ollamaModelsDir();
  const manifestPath = path.join(root, "manifests", ...ollamaReference(ref));
  if (!fs.existsSync(manifestPath)) {
    throw new MissingFileError(manifestPath, `Ollama manifest for "${ref}"`, `pull it first (\`ollama pull ${ref}\`), or set $OLLAMA_MODELS to Ollama's models directory (now ${root})`);
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
  } catch (e) {
    throw new GgufFormatError(manifestPath, "(root)", `is not JSON (${(e as Error).message})`, `re-pull the model (\`ollama pull ${ref}\`)`);
  }
  const layers = (manifest as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) throw new GgufFormatError(manifestPath, "layers", "is missing or not a list", `re-pull the model (\`ollama pull ${ref}\`)`);
  const index = layers.findIndex((l) => (l as { mediaType?: unknown })?.mediaType === OLLAMA_MODEL_LAYER);
  if (index < 0) throw new GgufFormatError(manifestPath, "layers", `has no layer of mediaType ${OLLAMA_MODEL_LAYER}`, "this manifest holds no model weights");
  const digest = (layers[index] as { digest?: unknown }).digest;
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new GgufFormatError(manifestPath, `layers[${index}].digest`, `is ${JSON.stringify(digest)}, not "sha256:<64 hex digits>"`, `re-pull the model (\`ollama pull ${ref}\`)`);
  }
  const blob = path.join(root, "blobs", digest.replace(":", "-"));
  if (!fs.existsSync(blob)) {
    throw new MissingFileError(blob, `model blob named by ${manifestPath} (layers[${index}].digest)`, `the store is incomplete; re-pull the model (\`ollama pull ${ref}\`)`);
  }
  return blob;
}

function resolveLmStudio(ref: string): string {
  const parts = ref.split("/");
  if (parts.length < 2 || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new ArgumentError("source", `"lmstudio:${ref}" is not an LM Studio model`, 'write "lmstudio:publisher/model" (a folder under LM Studio\'s models directory) or "lmstudio:publisher/model/file.gguf"');
  }
  const roots = lmStudioModelsDirs();
  for (const root of roots) {
    const candidate = path.join(root, ...parts);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new MissingFileError(path.join(roots[0], ...parts), `LM Studio model "${ref}"`, `download it in LM Studio, or check the name (looked in ${roots.join(" and ")})`);
}
