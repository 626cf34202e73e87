import { test } from "node:test";
import assert from "node:assert/strict";
import { probeTensorflow } from "../../src/backend/probe-tensorflow";
import { probeWebgpu, foundWebgpu, dawnOptionsFromEnv, type DawnModule, type WebgpuProbeDeps } from "../../src/backend/probe-webgpu";

function notFound(id: string): Error {
  return Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- x`), { code: "MODULE_NOT_FOUND" });
}

test("tensorflow: neither package installed → unavailable, naming both", async () => {
  const r = await probeTensorflow((id) => {
    throw notFound(id);
  }, () => false);
  assert.equal(r.available, false);
  assert.match(r.reason, /tfjs-node-gpu is not installed; @tensorflow\/tfjs-node is not installed/);
});

test("tensorflow: an installed package that fails to load (no libtensorflow / CUDA) is reported as such, then the next is tried", async () => {
  const tried: string[] = [];
  const r = await probeTensorflow((id) => {
    tried.push(id);
    if (id.endsWith("-gpu")) throw new Error("libcudart.so.11.0: cannot open shared object file");
    return {};
  }, () => true);
  assert.deepEqual(tried, ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]);
  assert.equal(r.available, true);
  assert.equal(r.detail?.package, "@tensorflow/tfjs-node");
  // A missing dependency of the package (not the package itself) is a load failure, not "not installed".
  const r2 = await probeTensorflow((id) => {
    throw notFound(id.endsWith("-gpu") ? "../build/tfjs_binding.node" : id);
  }, () => false);
  assert.match(r2.reason, /tfjs-node-gpu is installed but failed to load: Cannot find module '..\/build\/tfjs_binding.node'/);
});

test("tensorflow: a package that registered with another tfjs-core copy is not usable", async () => {
  const r = await probeTensorflow(() => ({}), () => false);
  assert.equal(r.available, false);
  assert.match(r.reason, /another copy of @tensorflow\/tfjs-core/);
});

interface FakeAdapter {
  info: Record<string, string>;
  features: Set<string>;
  limits: Record<string, number>;
}

function deps(over: Partial<WebgpuProbeDeps> & { adapter?: FakeAdapter | null; adapters?: (FakeAdapter | null)[] } = {}): WebgpuProbeDeps & { requests: unknown[]; created: string[][] } {
  const requests: unknown[] = [];
  const created: string[][] = [];
  const queue = over.adapters ?? [over.adapter === undefined ? null : over.adapter];
  const dawn: DawnModule = {
    create: (options) => {
      created.push(options);
      return { requestAdapter: async (o: unknown) => (requests.push(o), queue.length > 1 ? queue.shift() : queue[0]) } as unknown as GPU;
    },
    globals: { GPUBufferUsage: {} },
  };
  return { loadDawn: async () => dawn, hasSharedLibrary: () => true, platform: "linux", dawnOptions: [], requests, created, ...over };
}

const h100: FakeAdapter = {
  info: { vendor: "nvidia", architecture: "hopper", device: "", description: "NVIDIA H100 80GB HBM3" },
  features: new Set(["timestamp-query", "subgroups"]),
  limits: { maxBufferSize: 2 ** 34, maxStorageBufferBindingSize: 2 ** 32 - 4 },
};

test("webgpu: no Vulkan loader on Linux → unavailable before Dawn is even loaded", async () => {
  let loaded = false;
  const d = deps({ hasSharedLibrary: (name) => (assert.equal(name, "libvulkan.so.1"), false), loadDawn: async () => ((loaded = true), ({} as DawnModule)) });
  const r = await probeWebgpu(d);
  assert.equal(r.available, false);
  assert.match(r.reason, /libvulkan\.so\.1.*missing.*libvulkan1/);
  assert.equal(loaded, false);
  // With Dawn's OpenGL backend chosen, Vulkan is not needed.
  const gl = await probeWebgpu(deps({ hasSharedLibrary: () => false, dawnOptions: ["backend=opengl"], adapter: h100 }));
  assert.equal(gl.available, true);
});

test("webgpu: the webgpu package missing or failing to load", async () => {
  const missing = await probeWebgpu(deps({ loadDawn: async () => Promise.reject(new Error("Cannot find module 'webgpu'")) }));
  assert.match(missing.reason, /optional `webgpu` package is not installed/);
  const broken = await probeWebgpu(deps({ loadDawn: async () => Promise.reject(new Error("dawn.node: invalid ELF header")) }));
  assert.match(broken.reason, /failed to load \(dawn.node: invalid ELF header\)/);
});

test("webgpu: no adapter → unavailable with the VK_DRIVER_FILES hint; nothing kept for activation", async () => {
  const r = await probeWebgpu(deps({ adapter: null }));
  assert.equal(r.available, false);
  assert.match(r.reason, /no WebGPU adapter.*VK_DRIVER_FILES/);
  assert.equal(foundWebgpu(), null);
});

test("webgpu: a hardware adapter is available, described, and kept for activation", async () => {
  const d = deps({ adapter: h100, dawnOptions: ["enable-dawn-features=disable_robustness"] });
  const r = await probeWebgpu(d);
  assert.equal(r.available, true);
  assert.match(r.reason, /NVIDIA H100/);
  assert.deepEqual(r.detail?.features, ["subgroups", "timestamp-query"]);
  assert.deepEqual(d.created, [["enable-dawn-features=disable_robustness"]]);
  assert.deepEqual(d.requests, [{ powerPreference: "high-performance" }]);
  assert.equal(foundWebgpu()?.software, false);
});

test("webgpu: doctor's detail says whether the adapter's matrix units are usable, and why not", async () => {
  const plain = await probeWebgpu(deps({ adapter: h100 }));
  assert.match(String(plain.detail?.matrixUnits), /none usable: the adapter does not offer chromium-experimental-subgroup-matrix/);
  const withUnits: FakeAdapter = {
    ...h100,
    features: new Set(["subgroups", "shader-f16", "chromium-experimental-subgroup-matrix"]),
    info: { ...h100.info, subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrixConfigs: [{ componentType: "f16", resultComponentType: "f32", M: 16, N: 16, K: 16 }] } as unknown as Record<string, string>,
  };
  const saved = process.env.LMPROBE_MATRIX_UNITS;
  try {
    // By default on NVIDIA's adapters (where they were verified), on others only when asked for.
    delete process.env.LMPROBE_MATRIX_UNITS;
    assert.match(String((await probeWebgpu(deps({ adapter: withUnits }))).detail?.matrixUnits), /^16×16×16 f16 → f32, used for packed weights' products$/);
    const other: FakeAdapter = { ...withUnits, info: { ...withUnits.info, vendor: "apple" } };
    assert.match(String((await probeWebgpu(deps({ adapter: other }))).detail?.matrixUnits), /none usable: 16×16×16 f16 → f32 offered, not used by default on this adapter \(vendor "apple".*LMPROBE_MATRIX_UNITS=on uses them/);
    process.env.LMPROBE_MATRIX_UNITS = "on";
    assert.match(String((await probeWebgpu(deps({ adapter: other }))).detail?.matrixUnits), /16×16×16 f16 → f32, used for packed weights' products/);
    process.env.LMPROBE_MATRIX_UNITS = "features";
    assert.match(String((await probeWebgpu(deps({ adapter: withUnits }))).detail?.matrixUnits), /not now: LMPROBE_MATRIX_UNITS=features/);
    process.env.LMPROBE_MATRIX_UNITS = "off";
    assert.match(String((await probeWebgpu(deps({ adapter: withUnits }))).detail?.matrixUnits), /none usable: turned off \(LMPROBE_MATRIX_UNITS=off\)/);
    process.env.LMPROBE_MATRIX_UNITS = "yes";
    await assert.rejects(() => probeWebgpu(deps({ adapter: withUnits })), /LMPROBE_MATRIX_UNITS.*"yes": expected auto, on, off, all or features/);
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_MATRIX_UNITS;
    else process.env.LMPROBE_MATRIX_UNITS = saved;
  }
});

test("webgpu: a software adapter is only usable on request", async () => {
  const soft: FakeAdapter = { ...h100, info: { vendor: "mesa", architecture: "", device: "llvmpipe (LLVM 15.0.6, 256 bits)", description: "" } };
  const r = await probeWebgpu(deps({ adapter: soft }));
  assert.equal(r.available, false);
  assert.equal(r.usableOnRequest, true);
  assert.match(r.reason, /software adapter.*llvmpipe/);
});

test("webgpu: Dawn's OpenGL backends fall back to a compatibility adapter", async () => {
  const d = deps({ dawnOptions: ["backend=opengl"], adapters: [null, h100] });
  const r = await probeWebgpu(d);
  assert.equal(r.available, true);
  assert.deepEqual(d.requests[1], { powerPreference: "high-performance", featureLevel: "compatibility" });
});

test("LMPROBE_DAWN_OPTIONS is split on semicolons (Dawn's own options contain commas)", () => {
  assert.deepEqual(dawnOptionsFromEnv({ LMPROBE_DAWN_OPTIONS: "backend=vulkan; enable-dawn-features=a,b;" }), ["backend=vulkan", "enable-dawn-features=a,b"]);
  assert.deepEqual(dawnOptionsFromEnv({}), []);
});
