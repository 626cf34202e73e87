// Detects a WebGPU adapter through the `webgpu` package (Dawn as a Node addon). Node has no navigator.gpu,
// so this module talks to Dawn directly; webgpu.ts later hands the adapter to tfjs-backend-webgpu.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chooseMatrixUnitShape, matrixUnitMode, matrixUnitsRequested } from "./kernels/matrix-units";
import type { ProbeResult } from "./types";

/** The two exports of the `webgpu` package. */
export interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

export interface WebgpuProbeDeps {
  /** Imports the `webgpu` package (an ES module: loaded with a real import(), not require). */
  loadDawn(): Promise<DawnModule>;
  /** Whether the dynamic linker can find a shared library (libvulkan.so.1). */
  hasSharedLibrary(name: string): boolean;
  platform: NodeJS.Platform;
  /** Options for Dawn's create(), e.g. ["backend=opengl"], from LMPROBE_DAWN_OPTIONS (";"-separated). */
  dawnOptions: string[];
}

/** What a successful probe leaves for activation, so the adapter is requested once. */
export interface WebgpuFound {
  gpu: GPU;
  adapter: GPUAdapter;
  globals: Record<string, unknown>;
  software: boolean;
}

let found: WebgpuFound | null = null;
/** The adapter the last successful probe found (null before, or when none was found). */
export function foundWebgpu(): WebgpuFound | null {
  return found;
}

// tsc turns import() into require() under "module": "commonjs", which cannot load an ES module on Node 20.
const realImport = new Function("specifier", "return import(specifier)") as (s: string) => Promise<any>;

export async function loadDawnPackage(): Promise<DawnModule> {
  const entry = require.resolve("webgpu");
  const mod = await realImport(pathToFileURL(entry).href);
  return { create: mod.create, globals: mod.globals };
}

/** Looks for a library the way ld.so would: LD_LIBRARY_PATH, then the names in /etc/ld.so.cache, then the usual directories. */
export function hasSharedLibrary(name: string): boolean {
  const dirs = (process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean);
  if (dirs.some((d) => existsSync(path.join(d, name)))) return true;
  try {
    if (readFileSync("/etc/ld.so.cache").includes(name)) return true;
  } catch {
    // no cache (not glibc): fall through to the usual directories
  }
  const usual = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/usr/local/lib"];
  return usual.some((d) => existsSync(path.join(d, name)));
}

export function dawnOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.LMPROBE_DAWN_OPTIONS ?? "").split(";").map((s) => s.trim()).filter(Boolean);
}

/**
 * Dawn toggles the matrix units (kernels/matrix-units.ts) need, added to the user's options (merged into their
 * enable-dawn-features, if any) unless the units are turned off (LMPROBE_MATRIX_UNITS=off): allow_unsafe_apis, without
 * which Dawn does not list its experimental features (subgroup matrices among them), and vulkan_enable_f16_on_nvidia:
 * Dawn withholds shader-f16 on NVIDIA's Vulkan driver unless asked (f16 conformance failures, crbug.com/42251215),
 * and f16 matrix shapes need it (bench/results/gpu-h100/matrix-units/: without it, 8-bit integer shapes only).
 * Nothing else changes: no other lmprobe kernel uses f16.
 */
export function withMatrixUnitToggle(options: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  if (!matrixUnitsRequested(env)) return options;
  const toggles = ["allow_unsafe_apis", "vulkan_enable_f16_on_nvidia"];
  const i = options.findIndex((o) => o.startsWith("enable-dawn-features="));
  if (i < 0) return [...options, `enable-dawn-features=${toggles.join(",")}`];
  const present = options[i].slice("enable-dawn-features=".length).split(",");
  const missing = toggles.filter((t) => !present.includes(t));
  return missing.length === 0 ? options : options.map((o, j) => (j === i ? `${o},${missing.join(",")}` : o));
}

export const defaultWebgpuDeps = (): WebgpuProbeDeps => ({
  loadDawn: loadDawnPackage,
  hasSharedLibrary,
  platform: process.platform,
  dawnOptions: withMatrixUnitToggle(dawnOptionsFromEnv()),
});

const SOFTWARE_ADAPTERS = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render/i;

function usesVulkan(options: string[]): boolean {
  const backend = options.find((o) => o.startsWith("backend="));
  return !backend || backend === "backend=vulkan";
}

/** What `lmprobe doctor` says of the adapter's matrix units (kernels/matrix-units.ts). */
function describeMatrixUnits(adapter: GPUAdapter, info: GPUAdapterInfo): string {
  const chosen = chooseMatrixUnitShape(adapter.features, info as Parameters<typeof chooseMatrixUnitShape>[1]);
  if (!("shape" in chosen)) return `none usable: ${chosen.reason}`;
  const { M, N, K } = chosen.shape;
  return `${M}×${N}×${K} f16 → f32, used for packed weights' products${matrixUnitMode() === "features" ? " (not now: LMPROBE_MATRIX_UNITS=features)" : ""}`;
}

export async function probeWebgpu(deps: WebgpuProbeDeps = defaultWebgpuDeps()): Promise<ProbeResult> {
  found = null;
  // Dawn needs the Vulkan loader on Linux; without it create() only prints a warning and finds nothing.
  if (deps.platform === "linux" && usesVulkan(deps.dawnOptions) && !deps.hasSharedLibrary("libvulkan.so.1")) {
    return { available: false, reason: "libvulkan.so.1 (the Vulkan loader) is missing: install libvulkan1 (Debian/Ubuntu) or vulkan-loader, plus the GPU's Vulkan driver" };
  }
  let dawn: DawnModule;
  try {
    dawn = await deps.loadDawn();
  } catch (err) {
    const msg = String((err as Error)?.message ?? err).split("\n")[0];
    return {
      available: false,
      reason: /Cannot find (module|package) 'webgpu'/.test(msg)
        ? "the optional `webgpu` package is not installed (npm install webgpu)"
        : `the \`webgpu\` package failed to load (${msg}); it ships Dawn for linux-x64, darwin and win32`,
    };
  }
  let gpu: GPU;
  let adapter: GPUAdapter | null;
  try {
    gpu = dawn.create(deps.dawnOptions);
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    // Dawn's OpenGL backends only offer "compatibility" adapters; ask for one when the user chose such a backend.
    if (!adapter && !usesVulkan(deps.dawnOptions)) {
      adapter = await gpu.requestAdapter({ powerPreference: "high-performance", featureLevel: "compatibility" } as GPURequestAdapterOptions);
    }
  } catch (err) {
    return { available: false, reason: `Dawn failed to start: ${String((err as Error)?.message ?? err).split("\n")[0]}` };
  }
  if (!adapter) {
    return {
      available: false,
      reason:
        "no WebGPU adapter: Vulkan found no GPU driver (no GPU, or its Vulkan ICD is not registered; for NVIDIA set VK_DRIVER_FILES to nvidia_icd.json)",
    };
  }
  const info = (adapter as unknown as { info: GPUAdapterInfo }).info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ");
  const software = SOFTWARE_ADAPTERS.test(description) || Boolean((info as { isFallbackAdapter?: boolean }).isFallbackAdapter);
  found = { gpu, adapter, globals: dawn.globals, software };
  const detail = {
    adapter: description || "(unnamed)",
    features: [...adapter.features].sort(),
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    software,
    matrixUnits: describeMatrixUnits(adapter, info),
  };
  if (software) {
    return { available: false, usableOnRequest: true, reason: `only a software adapter (${description}), slower than wasm; set LMPROBE_BACKEND=webgpu to use it anyway`, detail };
  }
  return { available: true, reason: `adapter ${description}`, detail };
}
