// `lmprobe doctor`: which tfjs backends this machine offers, which one lmprobe chooses and why not the others.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import { diagnoseBackends } from "../backend";
import { TENSORFLOW_HINT } from "../backend/probe-tensorflow";
import type { SelectionReport } from "../backend/types";

const USAGE = `usage: lmprobe doctor [--json]

Probes the tfjs backends in lmprobe's order (tensorflow, webgpu, cpu-native, wasm, cpu), starts the first that
works (or the one LMPROBE_BACKEND names) and prints what was found, why the others were not chosen, and which CPU
path (onnxruntime's multi-threaded kernels, or single-threaded wasm) serves machines without a GPU backend.
LMPROBE_THREADS sets the native path's threads (default: every core); LMPROBE_NATIVE=off disables it.
  --json   print the report as JSON`;

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
  lines.push("", cpuPath(report));
  lines.push("", "override with LMPROBE_BACKEND=<tensorflow|webgpu|cpu-native|wasm|cpu> or setBackend(name)");
  return lines.join("\n");
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
  const unknown = args.filter((a) => a !== "--json");
  if (unknown.length > 0) throw new ArgumentError(unknown[0], "is not an option of lmprobe doctor", USAGE);
  const report = await diagnoseBackends();
  const out = { ...report, tfjs: tf.version_core, node: process.version, platform: `${process.platform}-${process.arch}` };
  console.log(args.includes("--json") ? JSON.stringify(out, null, 2) : formatReport(report));
  return 0;
}
