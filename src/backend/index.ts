// Chooses and initialises the tfjs backend. Minimal form: wasm (default) or cpu, overridable with
// LMPROBE_BACKEND or setBackend(). The GPU backends (webgpu, tensorflow) are added in backend/.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { ArgumentError } from "../errors";

export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";

let initialised: Promise<string> | null = null;

/** Initialises the backend once (LMPROBE_BACKEND, else the best available) and returns its name. */
export function ensureBackend(): Promise<string> {
  if (!initialised) initialised = setBackend((process.env.LMPROBE_BACKEND as BackendName) || "wasm");
  return initialised;
}

/** Switches the active tfjs backend. Tensors made on the previous backend must not be reused. */
export async function setBackend(name: BackendName): Promise<string> {
  if (!["wasm", "cpu", "webgpu", "tensorflow"].includes(name)) {
    throw new ArgumentError("backend", `is "${name}"`, 'use one of "tensorflow", "webgpu", "wasm", "cpu"');
  }
  tf.env().set("PROD", true); // silences tfjs's console banner about tfjs-node
  const ok = await tf.setBackend(name);
  if (!ok) throw new ArgumentError("backend", `"${name}" failed to initialise`, "run `lmprobe doctor` to see why");
  await tf.ready();
  initialised = Promise.resolve(name);
  return name;
}
