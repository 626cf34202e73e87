// Shared by the gradient tests: models loaded once per file, seeded directions, and finite differences in float64.
import path from "node:path";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { Float64Model } from "./float64-forward";
import { seededRandom } from "../../src/model/sampling";

const loaded = new Map<string, Promise<LanguageModel>>();

/** "demo" (models/lmprobe-demo) or a fixture under test/fixtures/tiny, on LMPROBE_BACKEND (default wasm). */
export function model(name = "demo"): Promise<LanguageModel> {
  if (!loaded.has(name)) {
    const source = name === "demo" ? "demo" : path.resolve(__dirname, "../fixtures/tiny", name);
    loaded.set(name, loadModel(source, { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" }));
  }
  return loaded.get(name)!;
}

/** Deterministic uniform numbers in [0, 1): the library's own seeded generator. */
export const seeded = seededRandom;

/**
 * Central difference (f(x + h·u) − f(x − h·u)) / 2h of a float64 metric of the logits along direction u added at
 * hook `name`: the directional derivative u·∇f, with truncation error O(h²) and float64 rounding.
 */
export function directionalDerivative(ref: Float64Model, ids: number[], name: string, u: Float64Array, metric: (logits: Float64Array) => number, h = 1e-4): number {
  const plus = metric(ref.forward(ids, new Map([[name, u.map((v) => v * h)]])));
  const minus = metric(ref.forward(ids, new Map([[name, u.map((v) => -v * h)]])));
  return (plus - minus) / (2 * h);
}
