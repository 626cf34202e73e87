// Detects @tensorflow/tfjs-node-gpu / @tensorflow/tfjs-node. Neither is a dependency (their install downloads
// libtensorflow), so they are required by name at run time only, and their absence is the normal case.
import * as tf from "@tensorflow/tfjs-core";
import type { ProbeResult } from "./types";

export const TENSORFLOW_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/** `require` with the package name in a variable, so bundlers and tsc do not try to resolve it. */
export type RequireFn = (id: string) => unknown;
const dynamicRequire: RequireFn = (id) => require(id);

function isNotInstalled(err: unknown, pkg: string): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === "MODULE_NOT_FOUND" && String(e.message ?? "").includes(`'${pkg}'`);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split("\n")[0];
}

/**
 * Tries each tfjs-node package in turn. Loading one registers the "tensorflow" backend with tfjs-core; if it
 * registered with a different copy of tfjs-core (a version mismatch), lmprobe's tfjs cannot use it.
 */
export async function probeTensorflow(
  requireFn: RequireFn = dynamicRequire,
  hasFactory: () => boolean = () => tf.findBackendFactory("tensorflow") != null,
): Promise<ProbeResult> {
  const problems: string[] = [];
  for (const pkg of TENSORFLOW_PACKAGES) {
    try {
      requireFn(pkg);
    } catch (err) {
      problems.push(isNotInstalled(err, pkg) ? `${pkg} is not installed` : `${pkg} is installed but failed to load: ${firstLine(err)}`);
      continue;
    }
    if (!hasFactory()) {
      problems.push(`${pkg} loaded but registered its backend with another copy of @tensorflow/tfjs-core (lmprobe uses ${tf.version_core})`);
      continue;
    }
    return { available: true, reason: `${pkg} loaded`, detail: { package: pkg } };
  }
  return { available: false, reason: problems.join("; ") };
}

/** The fix to print when no tfjs-node package works. */
export const TENSORFLOW_HINT =
  "optional: `npm install @tensorflow/tfjs-node` (CPU, libtensorflow) or `@tensorflow/tfjs-node-gpu` (NVIDIA, needs CUDA 11.2 and cuDNN 8.1)";
