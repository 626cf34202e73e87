// `lmprobe doctor`: which tfjs backends this machine offers, which one lmprobe chooses and why not the others.
import * as tf from "@tensorflow/tfjs-core";
import { describeBackend } from "../backend/describe";
import { ArgumentError, ModelTooLargeError } from "../errors";
import { openCheckpoint } from "../io/checkpoint";
import { chooseLayerStreaming, estimateMemory } from "../io/memory-estimate";
import { bytesNeededOn, packsWeights } from "../backend/capacity";
import { resolveCheckpointDir } from "../load";
import { architectureStreamsLayers } from "../model/architectures";
import { diagnoseBackends } from "../backend";
import { TENSORFLOW_HINT } from "../backend/probe-tensorflow";
import type { SelectionReport } from "../backend/types";
import { mallocTuningActive, tunedMallocEnv } from "../backend/native/malloc-tuning";

const USAGE = `usage: lmprobe doctor [--json] [--model <source>]

Probes the tfjs backends in lmprobe's order (tensorflow, webgpu, cpu-native, wasm, cpu), starts the first that
works (or the one LMPROBE_BACKEND names) and prints what was found, why the others were not chosen, and which CPU
path (onnxruntime's multi-threaded kernels, or single-threaded wasm) serves machines without a GPU backend.
LMPROBE_THREADS sets the native path's threads (default: every core); LMPROBE_NATIVE=off disables it.
  --json            print the report as JSON
  --model <source>  also open a model (directory, .gguf file, ollama:name, lmstudio:publisher/model; no weight is
                    read) and say how it would load on the chosen backend: its float32 size, its quantised size on
                    disk, and whether it fits whole (dequantised at load), streamed a block at a time, or not at all`;

/** How a model would load on the active backend, from its headers alone. */
export async function modelReport(source: string): Promise<Record<string, unknown>> {
  const checkpoint = openCheckpoint(await resolveCheckpointDir(source, { offline: true }));
  try {
    const estimate = estimateMemory(checkpoint.weights);
    const familyStreams = architectureStreamsLayers(checkpoint.config.modelType);
    const types: Record<string, number> = {};
    for (const name of checkpoint.weights.names()) {
      const info = checkpoint.weights.info(name);
      const type = info.quantisation?.type ?? info.dtype;
      types[type] = (types[type] ?? 0) + 1;
    }
    let plan: string;
    try {
      plan = chooseLayerStreaming(estimate, "auto", undefined, familyStreams)
        ? `streamed: each block ${estimate.storedBytes !== undefined ? "dequantised" : "read and widened to float32"} when the forward pass reaches it`
        : "loaded whole (dequantised once at load when quantised)";
    } catch (e) {
      if (!(e instanceof ModelTooLargeError)) throw e;
      plan = `does not fit: ${e.message.split("\n")[0]}`;
    }
    return {
      source,
      modelType: checkpoint.config.modelType,
      tensorTypes: types,
      float32Bytes: estimate.weightBytes,
      neededBytes: estimate.totalBytes,
      ...(estimate.storedBytes !== undefined ? { quantisedBytes: estimate.storedBytes } : {}),
      ...(estimate.streaming && familyStreams ? { streamedNeededBytes: estimate.streaming.totalBytes } : {}),
      backend: describeBackend().name,
      // Where 16-bit matrices stay packed (webgpu), what the backend holds: 2 bytes per value of those.
      ...(estimate.packable && packsWeights(describeBackend().name)
        ? { packedFloat32Bytes: estimate.packable.float32Bytes, neededOnBackendBytes: bytesNeededOn(estimate, describeBackend().name) }
        : {}),
      plan,
    };
  } finally {
    checkpoint.weights.close();
  }
}

function formatModel(m: Record<string, unknown>): string {
  const gib = (b: unknown) => ((b as number) >= 2 ** 30 ? `${((b as number) / 2 ** 30).toFixed(2)} GiB` : `${((b as number) / 2 ** 20).toFixed(1)} MiB`);
  const lines = ["", "", `model: ${m.source} (${m.modelType})`, `  tensors: ${Object.entries(m.tensorTypes as Record<string, number>).map(([t, n]) => `${n} ${t}`).join(", ")}`];
  lines.push(`  float32 weights: ${gib(m.float32Bytes)}; needed loaded whole: ${gib(m.neededBytes)}`);
  if (m.packedFloat32Bytes !== undefined) {
    lines.push(`  bf16/f16 matrices kept packed on ${m.backend} (2 bytes per value): ${gib((m.packedFloat32Bytes as number) / 2)} instead of ${gib(m.packedFloat32Bytes)}; needed loaded whole: ${gib(m.neededOnBackendBytes)}`);
  }
  if (m.quantisedBytes !== undefined) lines.push(`  quantised on disk: ${gib(m.quantisedBytes)}`);
  if (m.streamedNeededBytes !== undefined) lines.push(`  needed streamed (two blocks in float32 at a time): ${gib(m.streamedNeededBytes)}`);
  lines.push(`  on ${m.backend}: ${m.plan}`);
  return lines.join("\n");
}

const MARK: Record<string, string> = { chosen: "*", available: "+", unavailable: "-", failed: "!", skipped: " " };

export function formatReport(report: SelectionReport): string {
  const lines = [`backend: ${report.chosen} (chosen ${report.via === "auto" ? "automatically" : `by ${report.via}`})`, ""];
  for (const c of report.candidates) {
    lines.push(`${MARK[c.status]} ${c.name.padEnd(10)} ${c.status.padEnd(11)} ${c.reason}`);
    if (c.detail) {
      for (const [key, value] of Object.entries(c.detail)) {
        lines.push(`  ${" ".repeat(10)} ${key}: ${Array.isArray(value) ? value.join(", ") || "(none)" : value}`);
      }
    }
  }
  const tensorflow = report.candidates.find((c) => c.name === "tensorflow");
  if (tensorflow && tensorflow.status === "unavailable") lines.push("", `tensorflow: ${TENSORFLOW_HINT}`);
  lines.push("", cpuPath(report), mallocLine(), settingsLine());
  lines.push("", "override with LMPROBE_BACKEND=<tensorflow|webgpu|cpu-native|wasm|cpu> or setBackend(name)");
  return lines.join("\n");
}

/**
 * One line: every LMPROBE_* variable this process has (they change paths, kernels and sometimes last bits), so that
 * a shared report says which settings produced it.
 */
export function settingsLine(env: NodeJS.ProcessEnv = process.env): string {
  const set = Object.keys(env).filter((k) => k.startsWith("LMPROBE_") && env[k] !== undefined).sort();
  return set.length ? `settings: ${set.map((k) => `${k}=${env[k]}`).join(" ")}` : "settings: lmprobe's defaults (no LMPROBE_* variable set)";
}

/** One line: whether this process started with the CPU path's malloc settings (Linux only). */
export function mallocLine(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform !== "linux") return "malloc tuning: not needed off Linux";
  if (mallocTuningActive(env)) return `malloc tuning: on (GLIBC_TUNABLES=${env.GLIBC_TUNABLES})`;
  return `malloc tuning: off; the CPU path's probes run faster when the process starts with GLIBC_TUNABLES=${tunedMallocEnv({ ...env, LMPROBE_MALLOC_TUNING: undefined }, platform)} (the lmprobe command and kernel set it; LMPROBE_MALLOC_TUNING=0 turns that off)`;
}

/** One line: which CPU path is active (or would serve without a GPU backend) and why. */
export function cpuPath(report: SelectionReport): string {
  const native = report.candidates.find((c) => c.name === "cpu-native");
  if (!native) return "cpu path: wasm (the native path was not probed)";
  const threads = native.detail?.threads;
  if (native.status === "chosen" || native.status === "available") {
    return `cpu path: cpu-native, ${native.reason.replace(/ \(.* ranks higher\)$/, "")}${native.status === "available" ? ` (${report.chosen} is chosen first)` : ""}`;
  }
  if (native.status === "skipped") return `cpu path: not probed (${native.reason})`;
  return `cpu path: wasm, one thread and a 4 GiB heap, because the native path is unavailable: ${native.reason}${threads ? ` (it would use ${threads} threads)` : ""}`;
}

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const modelAt = args.indexOf("--model");
  const source = modelAt >= 0 ? args[modelAt + 1] : undefined;
  if (modelAt >= 0 && (source === undefined || source.startsWith("--"))) throw new ArgumentError("--model", "needs a model source", USAGE);
  const unknown = args.filter((a, i) => a !== "--json" && (modelAt < 0 || (i !== modelAt && i !== modelAt + 1)));
  if (unknown.length > 0) throw new ArgumentError(unknown[0], "is not an option of lmprobe doctor", USAGE);
  const report = await diagnoseBackends();
  const model = source === undefined ? undefined : await modelReport(source);
  const out = { ...report, tfjs: tf.version_core, node: process.version, platform: `${process.platform}-${process.arch}`, ...(model ? { model } : {}) };
  console.log(args.includes("--json") ? JSON.stringify(out, null, 2) : formatReport(report) + (model ? formatModel(model) : ""));
  return 0;
}
