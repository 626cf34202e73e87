// Chooses and initialises the tfjs backend. Order when nothing overrides it: tensorflow (tfjs-node-gpu or
// tfjs-node, when installed and loadable), webgpu (Dawn through the `webgpu` package, when a hardware adapter
// exists), cpu-native (onnxruntime-node's CPU provider under tfjs's cpu backend, every core), wasm, cpu. LMPROBE_BACKEND or setBackend() asks for one by name, with no fallback.
import { existsSync } from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { selectBackend, checkBackendName, type SelectOptions } from "./select";
import { probeTensorflow } from "./probe-tensorflow";
import { probeWebgpu } from "./probe-webgpu";
import { registerWebgpuBackend } from "./webgpu";
import { defineNativeBackend, NATIVE_BACKEND, nativeStatus, registerNativeBackend } from "./native";

// tfjs knows "cpu-native" from the start (tf.setBackend("cpu-native") works); onnxruntime loads on first activation.
defineNativeBackend();
import type { BackendCandidate, BackendName, ProbeResult, SelectionReport } from "./types";

export type { BackendName, SelectionReport, CandidateReport, ProbeResult } from "./types";
export { BACKEND_ORDER } from "./types";
export { selectBackend } from "./select";
export { activeGpuDevice } from "./webgpu";
export { leanDispatchStats, setLeanDispatch } from "./lean-dispatch";
export { logitStats, hasLogitStatsKernel, planMatMul, MAX_TOP_K, type LogitStats } from "./kernels";
export { fusedNorm, fusedActivation, fusedScoresSoftmax, fusedLinear, fusedRotaryHalf, type NormSpec } from "./kernels";
export * from "./packed-weight";

async function activate(name: BackendName): Promise<void> {
  tf.env().set("PROD", true); // silences tfjs's console banner about tfjs-node
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend("${name}") returned false`);
  await tf.ready();
}

async function probeWasm(): Promise<ProbeResult> {
  try {
    const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
    const binary = path.join(dir, "dist", "tfjs-backend-wasm.wasm");
    if (!existsSync(binary)) return { available: false, reason: `${binary} is missing: reinstall @tensorflow/tfjs-backend-wasm` };
    const simd = existsSync(path.join(dir, "dist", "tfjs-backend-wasm-simd.wasm"));
    return { available: true, reason: `@tensorflow/tfjs-backend-wasm ${tf.version_core}${simd ? " (SIMD)" : ""}` };
  } catch (err) {
    return { available: false, reason: `@tensorflow/tfjs-backend-wasm cannot be resolved: ${(err as Error).message.split("\n")[0]}` };
  }
}

async function probeNative(): Promise<ProbeResult> {
  const s = nativeStatus();
  const detail: Record<string, string | number> = { threads: s.threads, threadsFrom: s.threadsFrom };
  if (s.version) detail.onnxruntime = s.version;
  return { available: s.available, reason: s.reason, detail };
}

/** The real candidates of this machine, in BACKEND_ORDER. */
export function defaultCandidates(): BackendCandidate[] {
  return [
    { name: "tensorflow", probe: () => probeTensorflow(), activate: () => activate("tensorflow") },
    { name: "webgpu", probe: () => probeWebgpu(), activate: async () => (await registerWebgpuBackend(), activate("webgpu")) },
    { name: "cpu-native", probe: probeNative, activate: () => (registerNativeBackend(), activate(NATIVE_BACKEND)) },
    { name: "wasm", probe: probeWasm, activate: () => activate("wasm") },
    { name: "cpu", probe: async () => ({ available: true, reason: "always available (pure JavaScript, slowest)" }), activate: () => activate("cpu") },
  ];
}

let initialised: Promise<string> | null = null;
let lastReport: SelectionReport | null = null;

async function choose(options: SelectOptions): Promise<string> {
  lastReport = await selectBackend(defaultCandidates(), options);
  return lastReport.chosen;
}

/** Initialises the backend once (LMPROBE_BACKEND, else the best available) and returns its name. */
export function ensureBackend(): Promise<string> {
  if (!initialised) {
    const fromEnv = process.env.LMPROBE_BACKEND;
    initialised = fromEnv
      ? choose({ requested: checkBackendName(fromEnv, "LMPROBE_BACKEND"), via: "LMPROBE_BACKEND" })
      : choose({ via: "auto" });
    initialised.catch(() => (initialised = null));
  }
  return initialised;
}

/** Switches the active tfjs backend by name. Tensors made on the previous backend must not be reused. */
export async function setBackend(name: BackendName): Promise<string> {
  const chosen = choose({ requested: checkBackendName(name, "backend"), via: "setBackend()" });
  initialised = chosen;
  chosen.catch(() => (initialised = null));
  return chosen;
}

/** How the active backend was chosen (null before ensureBackend()/setBackend()). */
export function backendReport(): SelectionReport | null {
  return lastReport;
}

/** Probes every backend (activating the one lmprobe would choose) for `lmprobe doctor`. */
export async function diagnoseBackends(): Promise<SelectionReport> {
  const fromEnv = process.env.LMPROBE_BACKEND;
  const options: SelectOptions = fromEnv
    ? { requested: checkBackendName(fromEnv, "LMPROBE_BACKEND"), via: "LMPROBE_BACKEND", probeAll: true }
    : { via: "auto", probeAll: true };
  lastReport = await selectBackend(defaultCandidates(), options);
  initialised = Promise.resolve(lastReport.chosen);
  return lastReport;
}
