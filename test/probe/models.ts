// Models and references for the probe/ tests: fixture checkpoints loaded through the engine (once per file).
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { FIXTURES, reference, type Reference } from "../tensor/fixtures";

export { reference, FIXTURES };
export type { Reference };

const loaded = new Map<string, Promise<LanguageModel>>();

/** A fixture model ("gpt2", "llama", …) or "demo", on the backend LMPROBE_BACKEND names (default wasm). */
export function model(name: string): Promise<LanguageModel> {
  if (!loaded.has(name)) {
    const dir = name === "demo" ? "demo" : path.join(FIXTURES, "tiny", name);
    loaded.set(name, loadModel(dir, { backend: (process.env.LMPROBE_BACKEND as "wasm" | "cpu") ?? "wasm" }) as Promise<LanguageModel>);
  }
  return loaded.get(name)!;
}

export function referenceOf(name: string): Reference {
  return reference(name === "demo" ? path.join(FIXTURES, "demo-capital") : path.join(FIXTURES, "tiny", name));
}

/** Rows of an Arquero table as plain objects. */
export function rows<T = Record<string, unknown>>(table: { objects(): object[] }): T[] {
  return table.objects() as T[];
}

/** |a − e| ≤ atol + rtol·|e| */
export function close(a: number, e: number, atol = 1e-4, rtol = 1e-4): boolean {
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}

/** Activates the test backend (for tests that build tensors without loading a model). */
export async function ready(): Promise<void> {
  tf.env().set("PROD", true);
  if (tf.getBackend() !== (process.env.LMPROBE_BACKEND ?? "wasm")) await tf.setBackend(process.env.LMPROBE_BACKEND ?? "wasm");
  await tf.ready();
}
