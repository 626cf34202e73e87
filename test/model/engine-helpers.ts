// Shared by the engine's tests: the project's fixture paths, building a model from one, and reading references.
import path from "node:path";
import { setBackend, type BackendName } from "../../src/backend";
import { openCheckpoint } from "../../src/io/checkpoint";
import { SafetensorsFile } from "../../src/io/safetensors";
import { buildModel } from "../../src/model/build";
import type { LanguageModel } from "../../src/model/model";

export const ROOT = path.resolve(__dirname, "../..");
export const TINY = path.join(ROOT, "test/fixtures/tiny");
export const DEMO_DIR = path.join(ROOT, "models/lmprobe-demo");
export const DEMO_REFERENCE = path.join(ROOT, "test/fixtures/demo-capital/reference.safetensors");

/** Fixtures whose architectures the dense engine implements (MoE fixtures are tested with the MoE component). */
export const DENSE_FIXTURES = ["gpt2", "llama", "llama3-f16-sharded", "mistral", "qwen2", "qwen3", "gemma2", "gpt_neox"];

export async function useBackend(): Promise<string> {
  return setBackend((process.env.LMPROBE_BACKEND as BackendName) || "wasm");
}

export function fixtureDir(name: string): string {
  return name === "demo" ? DEMO_DIR : path.join(TINY, name);
}

export function referencePath(name: string): string {
  return name === "demo" ? DEMO_REFERENCE : path.join(TINY, name, "reference.safetensors");
}

/** Builds the fixture's model (weights copied into tensors; the files are closed again). */
export function loadFixture(name: string): LanguageModel {
  const checkpoint = openCheckpoint(fixtureDir(name));
  try {
    return buildModel(checkpoint, name);
  } finally {
    checkpoint.weights.close();
  }
}

export function readReference<T>(file: string, read: (f: SafetensorsFile) => T): T {
  const f = SafetensorsFile.open(file);
  try {
    return read(f);
  } finally {
    f.close();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
