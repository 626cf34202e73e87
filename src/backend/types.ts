// Shared shapes of backend detection: what each candidate reports, and what the selection decided.

/** A tfjs backend lmprobe can run on. */
export type BackendName = "tensorflow" | "webgpu" | "cpu-native" | "wasm" | "cpu";

/**
 * The order lmprobe tries backends in when nothing overrides it: fastest first. "cpu-native" is tfjs's cpu backend
 * with the heavy kernels on onnxruntime's multi-threaded CPU provider (backend/native/); wasm is single-threaded
 * with a 4 GiB heap, so it serves only where the native runtime cannot load.
 */
export const BACKEND_ORDER: readonly BackendName[] = ["tensorflow", "webgpu", "cpu-native", "wasm", "cpu"];

/** What probing one backend found. `detail` holds facts worth printing (adapter name, package version…). */
export interface ProbeResult {
  available: boolean;
  /** Why it is not available (or, when available, a one-line description of what was found). */
  reason: string;
  detail?: Record<string, string | number | boolean | string[]>;
  /** Not chosen automatically, but usable when asked for by name (a software WebGPU adapter). */
  usableOnRequest?: boolean;
}

/** One candidate backend: how to probe it cheaply and how to make it the active tfjs backend. */
export interface BackendCandidate {
  name: BackendName;
  probe(): Promise<ProbeResult>;
  /** Registers (if needed) and activates the backend in tfjs; throws when it cannot. */
  activate(): Promise<void>;
}

/** One line of the selection report, as `lmprobe doctor` prints it. */
export interface CandidateReport extends ProbeResult {
  name: BackendName;
  /** "chosen", "available" (found but a better one was chosen), "unavailable", "failed" (found, failed to start), "skipped" (not probed). */
  status: "chosen" | "available" | "unavailable" | "failed" | "skipped";
}

/** How the active backend was chosen: the backend, by what, and what each candidate said. */
export interface SelectionReport {
  chosen: BackendName;
  /** How the choice was made: "auto" (first that works in BACKEND_ORDER), "LMPROBE_BACKEND", or "setBackend()". */
  via: "auto" | "LMPROBE_BACKEND" | "setBackend()";
  candidates: CandidateReport[];
}
