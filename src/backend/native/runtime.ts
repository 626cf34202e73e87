// onnxruntime-node's CPU execution provider (MLAS: multi-threaded, vectorised kernels) as a synchronous call.
// tfjs kernels must return their result synchronously, and onnxruntime-node's public InferenceSession.run is
// asynchronous; its native binding's own `run` is synchronous but private API. So lmprobe pins onnxruntime-node to
// one exact version (package.json), checks that version and the binding's shape before using it, runs a 2×2
// product as a smoke test, and otherwise reports why not (doctor) and leaves the native backend unavailable, so the
// selection falls back to wasm.
import os from "node:os";
import path from "node:path";
import { encodeModel, type OnnxGraph } from "./onnx-graph";

/** The one onnxruntime-node version whose private binding lmprobe has been checked against. */
export const PINNED_ORT_VERSION = "1.30.0";

interface OrtTensor {
  readonly data: Float32Array | Int32Array | BigInt64Array;
  readonly dims: readonly number[];
  readonly type: string;
}
type OrtTensorConstructor = new (type: string, data: ArrayBufferView, dims: readonly number[]) => OrtTensor;
interface BindingSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}
interface Binding {
  InferenceSession: new () => BindingSession;
}

export interface NativeStatus {
  available: boolean;
  /** Why the native path is (not) active, one line. */
  reason: string;
  version?: string;
  threads: number;
  /** Where the thread count came from. */
  threadsFrom: string;
}

let status: NativeStatus | null = null;
let binding: Binding | null = null;
let Tensor: OrtTensorConstructor | null = null;

/** Intra-op threads: LMPROBE_THREADS when set to a positive integer, else every core Node reports. */
export function nativeThreads(): { threads: number; from: string } {
  const raw = process.env.LMPROBE_THREADS;
  if (raw !== undefined && raw !== "") {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 1) return { threads: n, from: "LMPROBE_THREADS" };
  }
  return { threads: os.availableParallelism(), from: "os.availableParallelism()" };
}

function load(): NativeStatus {
  const { threads, from } = nativeThreads();
  const base = { threads, threadsFrom: from };
  if (process.env.LMPROBE_NATIVE === "off") return { ...base, available: false, reason: "LMPROBE_NATIVE=off" };
  const raw = process.env.LMPROBE_THREADS;
  if (raw !== undefined && raw !== "" && from !== "LMPROBE_THREADS") {
    return { ...base, available: false, reason: `LMPROBE_THREADS is "${raw}": use a positive integer` };
  }
  let dir: string;
  let version: string;
  try {
    dir = path.dirname(require.resolve("onnxruntime-node/package.json"));
    version = (require(path.join(dir, "package.json")) as { version: string }).version;
  } catch (err) {
    return { ...base, available: false, reason: `onnxruntime-node cannot be resolved (${(err as Error).message.split("\n")[0]}): npm ci` };
  }
  if (version !== PINNED_ORT_VERSION) {
    return { ...base, version, available: false, reason: `onnxruntime-node ${version} is installed; lmprobe uses its private synchronous binding and is checked against ${PINNED_ORT_VERSION} only: npm ci` };
  }
  try {
    const mod = require(path.join(dir, "dist", "binding.js")) as { binding?: Binding; initOrt?: () => void };
    if (typeof mod.initOrt !== "function" || typeof mod.binding?.InferenceSession !== "function") {
      return { ...base, version, available: false, reason: "onnxruntime-node's binding has changed shape (no InferenceSession/initOrt)" };
    }
    mod.initOrt();
    binding = mod.binding;
    Tensor = (require("onnxruntime-common") as { Tensor: OrtTensorConstructor }).Tensor;
    // Smoke test: [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]].
    const out = runGraph("smoke", () => ({ nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["y"] }], inputs: [{ name: "a" }, { name: "b" }], outputs: [{ name: "y" }] }), { a: [new Float32Array([1, 2, 3, 4]), [2, 2]], b: [new Float32Array([5, 6, 7, 8]), [2, 2]] });
    if (Array.from(out.y.data as Float32Array).join() !== "19,22,43,50") throw new Error(`smoke test gave [${Array.from(out.y.data as Float32Array)}]`);
  } catch (err) {
    binding = null;
    return { ...base, version, available: false, reason: `onnxruntime-node ${version} failed to start: ${(err as Error).message.split("\n")[0]}` };
  }
  return { ...base, version, available: true, reason: `onnxruntime-node ${version} CPU provider (MLAS), ${threads} intra-op thread${threads === 1 ? "" : "s"} (${from})` };
}

/** Loads and checks onnxruntime-node once; later calls return the same answer. */
export function nativeStatus(): NativeStatus {
  if (!status) status = load();
  return status;
}

const sessions = new Map<string, { session: BindingSession; outputs: string[]; profiled: boolean }>();

/** Input tensors by graph input name: [values, shape]. */
export type Feeds = Record<string, [Float32Array | Int32Array | BigInt64Array, readonly number[]]>;

export interface RunOptions {
  /**
   * The session's workers spin this long for more work before they sleep (onnxruntime's
   * session.intra_op.spin_duration_us), instead of sleeping at once. For graphs of many small nodes (a whole block):
   * each node's parallel section would otherwise wake the workers again. On the demo (2 cores, 6 alternated rounds,
   * bench/results/cpu/block-spin-ab.jsonl) 50 µs for the block's session took the forward pass from 7.66 to 6.67 ms
   * and left the probe where it was (16.25 vs 16.36 ms); spinning every session without a limit made the probe ~5×
   * slower (each session has its own workers, which then contend for the cores).
   */
  spinMicroseconds?: number;
}

/**
 * Below `belowWork` units of work (multiply-adds for products, elements otherwise) a call runs on one thread. Each
 * session has its own intra-op pool whose workers sleep between calls (no spinning): waking one costs more than it
 * saves on a small op, and on a busy machine the woken thread may wait for a core. A product's last bits may depend
 * on the thread count (MLAS blocks its sums by it); the choice is fixed by the call's shape, so a run is repeatable.
 */
export const nativeSingleThread = { belowWork: 2 ** 17 };

/**
 * Runs the graph cached under `key` (built by `build` the first time: one session per kind of op and thread count,
 * any shape) and returns its outputs. Input arrays are read in place; the outputs are new arrays owned by the
 * caller. `work` sizes the call (default: its largest input's elements) for nativeSingleThread.
 */
export function runGraph(key: string, build: () => OnnxGraph, feeds: Feeds, work?: number, options: RunOptions = {}): Record<string, OrtTensor> {
  if (!binding || !Tensor) throw new Error("the native CPU path is not available (see `lmprobe doctor`)");
  const size = work ?? Math.max(0, ...Object.values(feeds).map(([values]) => values.length));
  const allThreads = (status ?? { threads: nativeThreads().threads }).threads;
  const threads = size < nativeSingleThread.belowWork ? 1 : allThreads;
  const sessionKey = threads === allThreads ? key : `${key}#${threads}`;
  let cached = sessions.get(sessionKey);
  if (!cached) {
    const graph = build();
    const model = encodeModel(graph);
    const session = new binding.InferenceSession();
    // Spinning worker threads would keep cores busy between ops, while JavaScript runs the rest of the model; a
    // graph of many small nodes (RunOptions.spinMicroseconds) spins briefly instead of sleeping between them.
    const spin = process.env.LMPROBE_NATIVE_SPIN === "1" || options.spinMicroseconds !== undefined;
    const intra: Record<string, string> = { allow_spinning: spin ? "1" : "0" };
    if (options.spinMicroseconds !== undefined && process.env.LMPROBE_NATIVE_SPIN !== "1") intra.spin_duration_us = String(options.spinMicroseconds);
    const extra = { session: { intra_op: intra } };
    const profile = nativeProfile.dir ? { enableProfiling: true, profileFilePrefix: path.join(nativeProfile.dir, sessionKey.replace(/[^A-Za-z0-9_.-]/g, "_")) } : {};
    session.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all", executionMode: "sequential", extra, ...profile });
    cached = { session, outputs: graph.outputs.map((o) => o.name), profiled: nativeProfile.dir !== null };
    sessions.set(sessionKey, cached);
  }
  const inputs: Record<string, OrtTensor> = {};
  const fetches: Record<string, null> = {};
  for (const name of cached.outputs) fetches[name] = null;
  for (const [name, [values, shape]] of Object.entries(feeds)) {
    const type = values instanceof Float32Array ? "float32" : values instanceof Int32Array ? "int32" : "int64";
    inputs[name] = new Tensor(type, values, shape);
  }
  if (!nativeCallLog.enabled) return cached.session.run(inputs, fetches, {});
  const start = performance.now();
  const outputs = cached.session.run(inputs, fetches, {});
  const entry = nativeCallLog.sessions.get(sessionKey) ?? { calls: 0, ms: 0 };
  entry.calls++;
  entry.ms += performance.now() - start;
  nativeCallLog.sessions.set(sessionKey, entry);
  return outputs;
}

/**
 * Calls and milliseconds per session (kind of op and thread count) while `enabled`: where a pass's native time goes
 * (bench/probe-phases.ts). Off by default; then a call pays one flag check.
 */
export const nativeCallLog = { enabled: false, sessions: new Map<string, { calls: number; ms: number }>() };

/**
 * onnxruntime's own per-node profile (its session option enableProfiling): every session built while `dir` is set
 * writes the time of each node of each call to a JSON file in `dir` (Chrome trace format), once
 * endNativeProfiling() is called. For bench/probe-phases.ts --ort-profile: which ops of a graph take the time.
 */
export const nativeProfile: { dir: string | null } = { dir: null };

/** Ends profiling on every session built with nativeProfile.dir set, writing their files. */
export function endNativeProfiling(): void {
  for (const { session, profiled } of sessions.values()) {
    if (profiled) (session as BindingSession & { endProfiling(): void }).endProfiling();
  }
}

/** Keys of the sessions built so far (for tests and profiling). */
export function nativeSessionKeys(): string[] {
  return [...sessions.keys()];
}

/** Sessions built so far (for tests and doctor). */
export function nativeSessionCount(): number {
  return sessions.size;
}
