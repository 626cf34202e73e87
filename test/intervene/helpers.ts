// Shared by the intervene/ tests: the demo model and a MoE fixture loaded once per test file, on the backend
// LMPROBE_BACKEND names (default wasm), and small readers.
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";

const loaded = new Map<string, Promise<LanguageModel>>();

/** "demo" (models/lmprobe-demo) or a fixture under test/fixtures/tiny. */
export function model(name = "demo"): Promise<LanguageModel> {
  if (!loaded.has(name)) {
    const source = name === "demo" ? "demo" : path.resolve(__dirname, "../fixtures/tiny", name);
    loaded.set(name, loadModel(source, { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" }));
  }
  return loaded.get(name)!;
}

export const CLEAN = "The capital of France is";
export const CORRUPTED = "The capital of Japan is";
export const ANSWERS: [string, string] = [" Paris", " Tokyo"];

/** Reads a tensor to a flat array and disposes nothing. */
export function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Logits of the last position of row `b` of a run. */
export function lastLogits(logits: tf.Tensor3D, b = 0): Float32Array {
  return tf.tidy(() => logits.slice([b, logits.shape[1] - 1, 0], [1, 1, -1]).dataSync() as Float32Array);
}
