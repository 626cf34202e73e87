// Shared by the gradient tests: models loaded once per file, seeded directions, and finite differences in float64.
import path from "node:path";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { Float64Model } from "./float64-forward";

const loaded = new Map<string, Promise<LanguageModel>>();

/** "demo" (models/lmprobe-demo) or a fixture under test/fixtures/tiny, on LMPROBE_BACKEND (default wasm). */
export function model(name = "demo"): Promise<LanguageModel> {
  if (!loaded.has(name)) {
    const source = name === "demo" ? "demo" : path.resolve(__dirname, "../fixtures/tiny", name);
    loaded.set(name, loadModel(source, { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" }));
  }
  return loaded.get(name)!;
}

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Central difference (f(x + h·u) − f(x − h·u)) / 2h of a float64 metric of the logits along direction u added at
 * hook `name`: the directional derivative u·∇f, with truncation error O(h²) and float64 rounding.
 */
export function directionalDerivative(ref: Float64Model, ids: number[], name: string, u: Float64Array, metric: (logits: Float64Array) => number, h = 1e-4): number {
  const plus = metric(ref.forward(ids, new Map([[name, u.map((v) => v * h)]])));
  const minus = metric(ref.forward(ids, new Map([[name, u.map((v) => -v * h)]])));
  return (plus - minus) / (2 * h);
}
