// Makes tfjs-backend-webgpu run in Node on the adapter probe-webgpu.ts found: provides the GPU* constants and
// navigator.gpu it expects, creates the device with the adapter's full limits, and registers lmprobe's kernels.
import * as tf from "@tensorflow/tfjs-core";
import { DeviceValidationError, SynchronousReadError } from "../errors";
import { foundWebgpu, type WebgpuFound } from "./probe-webgpu";
import { registerWebgpuKernels } from "./kernels/register";
import { installLeanDispatch } from "./lean-dispatch";
import { chooseMatrixUnitShape, MATRIX_UNIT_FEATURE, matrixUnits, matrixUnitsRequested } from "./kernels/matrix-units";

/** Only the GPU* names tfjs-backend-webgpu reads as globals; existing ones are left alone. */
function installGlobals(found: WebgpuFound): void {
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(found.globals)) {
    if (name.startsWith("GPU") && g[name] === undefined) g[name] = value;
  }
  // Node 20 has no navigator; Node 21+ has one without gpu.
  if (g.navigator === undefined) g.navigator = { gpu: found.gpu };
  else if (!(g.navigator as { gpu?: unknown }).gpu) Object.defineProperty(g.navigator, "gpu", { value: found.gpu, configurable: true });
}

/**
 * Features lmprobe's kernels can use when present; tfjs uses timestamp-query for profiling. The matrix units
 * (kernels/matrix-units.ts) need Dawn's experimental subgroup matrices (unless LMPROBE_MATRIX_UNITS=off).
 */
function wantedFeatures(): string[] {
  return ["timestamp-query", "subgroups", "shader-f16", ...(matrixUnitsRequested() ? [MATRIX_UNIT_FEATURE] : [])];
}

/**
 * WGSL wants `enable` directives before any declaration, but tfjs-webgpu puts a program's code after its own
 * declarations: move them to the top (programs using f16 or subgroup matrices declare them in their code).
 */
export function hoistEnableDirectives(code: string): string {
  if (!/^\s*enable\s/m.test(code)) return code;
  const lines = code.split("\n");
  const enables = lines.filter((l) => /^\s*enable\s[^;]*;\s*$/.test(l));
  const rest = lines.filter((l) => !/^\s*enable\s[^;]*;\s*$/.test(l));
  return [...new Set(enables.map((l) => l.trim()))].join("\n") + "\n" + rest.join("\n");
}

/** What the device offers for products on matrix units (kernels/matrix-units.ts reads it). */
function recordMatrixUnits(adapter: GPUAdapter, device: GPUDevice): void {
  const info = (adapter as unknown as { info: GPUAdapterInfo & { subgroupMatrixConfigs?: [] } }).info;
  const chosen = chooseMatrixUnitShape(device.features, info);
  matrixUnits.workgroupStorage = device.limits.maxComputeWorkgroupStorageSize;
  if ("shape" in chosen) {
    matrixUnits.shape = chosen.shape;
    matrixUnits.subgroupSize = chosen.subgroupSize;
    matrixUnits.reason = `${chosen.shape.M}×${chosen.shape.N}×${chosen.shape.K} f16 → f32`;
  } else {
    matrixUnits.shape = null;
    matrixUnits.reason = chosen.reason;
  }
}

async function createDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
  const requiredFeatures = wantedFeatures().filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  recordMatrixUnits(adapter, device);
  const createShaderModule = device.createShaderModule.bind(device);
  device.createShaderModule = (descriptor: GPUShaderModuleDescriptor) => createShaderModule({ ...descriptor, code: hoistEnableDirectives(descriptor.code) });
  // A WGSL or validation error would otherwise vanish: Dawn reports it only through this event. It is logged, and the
  // next read of a tensor throws (failReadsAfterDeviceErrors): the rejected commands never ran.
  device.addEventListener?.("uncapturederror", (ev: Event) => {
    const message = (ev as GPUUncapturedErrorEvent).error?.message ?? String(ev);
    console.error(`lmprobe webgpu: ${message}`);
    const list = deviceErrors.get(device) ?? [];
    list.push(message);
    deviceErrors.set(device, list);
  });
  return device;
}

/** Errors each device reported since a read last threw them. */
const deviceErrors = new WeakMap<GPUDevice, string[]>();

interface WebgpuReadLike {
  device: GPUDevice;
  read(dataId: object): Promise<unknown>;
}

/**
 * A read of a GPU tensor waits for the device, during which Dawn delivers the errors of the commands submitted
 * before it; if there were any, the read throws DeviceValidationError instead of returning values that the rejected
 * commands should have produced (a command buffer is rejected whole: its every dispatch is lost). Thrown once per
 * batch of errors, so that a session can go on after reloading what was affected.
 */
function failReadsAfterDeviceErrors(proto: WebgpuReadLike): void {
  const original = proto.read;
  if ((original as { lmprobeGuard?: boolean }).lmprobeGuard) return;
  const guarded = async function (this: WebgpuReadLike, dataId: object) {
    const values = await original.call(this, dataId);
    const errors = deviceErrors.get(this.device);
    if (errors && errors.length > 0) {
      deviceErrors.delete(this.device);
      throw new DeviceValidationError(errors);
    }
    return values;
  };
  (guarded as { lmprobeGuard?: boolean }).lmprobeGuard = true;
  proto.read = guarded;
}

interface WebgpuBackendLike {
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): { values?: unknown; resource?: unknown } };
}

/** tfjs's readSync reads through OffscreenCanvas, which Node lacks: fail with a message that says what to do. */
function guardSynchronousReads(proto: WebgpuBackendLike): void {
  const original = proto.readSync;
  if ((original as { lmprobeGuard?: boolean }).lmprobeGuard) return;
  const guarded = function (this: WebgpuBackendLike, dataId: object) {
    const data = this.tensorMap.get(dataId);
    if (data && data.values == null && data.resource != null && typeof OffscreenCanvas === "undefined") {
      throw new SynchronousReadError("webgpu");
    }
    return original.call(this, dataId);
  };
  (guarded as { lmprobeGuard?: boolean }).lmprobeGuard = true;
  proto.readSync = guarded;
}

let registered: Promise<void> | null = null;

/** Registers the "webgpu" tfjs backend on the probed adapter (once). The caller then calls tf.setBackend("webgpu"). */
export function registerWebgpuBackend(): Promise<void> {
  if (!registered) {
    registered = (async () => {
      const found = foundWebgpu();
      if (!found) throw new Error("registerWebgpuBackend() called before a successful probeWebgpu()");
      installGlobals(found);
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const webgpuBackend = require("@tensorflow/tfjs-backend-webgpu") as typeof import("@tensorflow/tfjs-backend-webgpu");
      // Importing the package registered a factory that requests its own adapter; replace it with ours.
      if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
      const adapter = found.adapter;
      tf.registerBackend("webgpu", async () => new webgpuBackend.WebGPUBackend(await createDevice(adapter), (adapter as unknown as { info: GPUAdapterInfo }).info), 3);
      guardSynchronousReads(webgpuBackend.WebGPUBackend.prototype as unknown as WebgpuBackendLike);
      failReadsAfterDeviceErrors(webgpuBackend.WebGPUBackend.prototype as unknown as WebgpuReadLike);
      installLeanDispatch(webgpuBackend.WebGPUBackend.prototype);
      // Submits every 64 dispatches rather than tfjs's 15: on Vulkan a submit costs ~200 µs of CPU, which at 15
      // added ~14 µs to every dispatch (measured on an H200; bench/results/round2/run2-dispatch.json).
      if (tf.env().get("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") === 15) tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", 64);
      registerWebgpuKernels();
    })();
    registered.catch(() => (registered = null));
  }
  return registered;
}

/** The GPUDevice of the active webgpu backend, or null when another backend is active. */
export function activeGpuDevice(): GPUDevice | null {
  if (tf.getBackend() !== "webgpu") return null;
  return (tf.backend() as unknown as { device: GPUDevice }).device;
}
