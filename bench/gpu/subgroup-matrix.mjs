// What the adapter offers for matrix units (Dawn's chromium-experimental-subgroup-matrix, Vulkan's cooperative
// matrices), and whether a float32 product can be computed on them to float32 accuracy: each float32 activation is
// split into half-precision terms (hi = f16(a), lo = f16(a − hi), and a third for the rest) whose products with a
// half-exact weight are exact in the float32 accumulator, so A·B = Σ_terms term·B up to float32 rounding.
// For 8-bit integer shapes: whether a product is exact, how load offsets count, and the rate in TOPS.
// Prints one JSON object: the adapter's features and subgroup-matrix configs, then for each config with f16 inputs
// and an f32 result: max error of 1, 2 and 3 terms against a float64 reference (relative to Σ|a||b|), the same for
// a plain float32 product on the CPU, and the time of a 4096³ product per term count.
//   node bench/gpu/subgroup-matrix.mjs [--size 4096] [--reps 20]
import { writeSync } from "node:fs";
import { create, globals } from "webgpu";

// Written synchronously: Dawn's threads have crashed Node at exit (a glibc mutex assertion, on an H200), which
// loses whatever console.log had still queued for a pipe.
const print = (doc) => writeSync(1, `${JSON.stringify(doc)}\n`);

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SIZE_ARG = arg("size", 4096);
const REPS = arg("reps", 20);
Object.assign(globalThis, globals);
// --null: Dawn's null backend (every feature, no execution): checks that the WGSL compiles, off the GPU machine.
const compileOnly = process.argv.includes("--null");
const SIZE = compileOnly ? 256 : SIZE_ARG; // nothing runs on the null backend: no need for large inputs
// vulkan_enable_f16_on_nvidia: Dawn withholds shader-f16 (and so f16 matrix shapes) on NVIDIA's Vulkan driver unless
// asked (crbug.com/42251215); the H100 run without it listed 8-bit integer shapes only.
const gpu = create([...(compileOnly ? ["backend=null"] : []), "enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"]);
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
const out = {};
if (!adapter) {
  print({ error: "no adapter" });
  process.exit(1);
}
const info = adapter.info ?? {};
out.adapter = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize };
out.features = [...adapter.features].sort();
const configs = compileOnly ? [{ componentType: "f16", resultComponentType: "f32", M: 16, N: 16, K: 16 }, { componentType: "i8", resultComponentType: "i32", M: 16, N: 16, K: 32 }] : [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K }));
out.subgroupMatrixConfigs = configs;
out.size = SIZE;
const FEATURE = "chromium-experimental-subgroup-matrix";
if (!adapter.features.has(FEATURE)) {
  out.note = `${FEATURE} not offered`;
  print(out);
  process.exit(0);
}
const device = await adapter.requestDevice({
  requiredFeatures: ["subgroups", "shader-f16", FEATURE].filter((f) => adapter.features.has(f)),
  requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
});
const errors = [];
device.addEventListener?.("uncapturederror", (ev) => errors.push(ev.error?.message ?? String(ev)));

// Half precision by hand (Node 20 has no Float16Array): float32 → binary16 bits, round to nearest even.
const f32v = new Float32Array(1), u32v = new Uint32Array(f32v.buffer);
function halfBits(x) {
  f32v[0] = x;
  const b = u32v[0], sign = (b >>> 16) & 0x8000, exp = (b >>> 23) & 0xff, man = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = man | 0x800000, shift = 14 - e;
    const half = 1 << (shift - 1), rest = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}
function halfValue(h) {
  const sign = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
const f16 = (x) => halfValue(halfBits(x));

// C[M, N] = A[M, Kt] · B[N, Kt]ᵀ with A and B half precision (B is the right matrix, K × N, column-major, stride Kt):
// every subgroup computes RM × RN result matrices straight from storage (no workgroup tiling: a first look at the
// rate, not a tuned kernel); four subgroups per workgroup in a 2 × 2 arrangement.
function shader(c, RM, RN, sg, offsetDiv = 1) {
  const { M: cm, N: cn, K: ck } = c;
  // f16: half arrays; i8: bytes packed four to an i32 word (the scalar shader type of an i8 matrix is i32), stride in
  // bytes. Whether a load's offset counts bytes or words is what offsetDiv tries (1: bytes, 4: words).
  const half = c.componentType === "f16";
  const storage = half ? "f16" : "i32";
  const result = c.resultComponentType;
  const at = (expr) => (offsetDiv === 1 ? expr : `(${expr}) / ${offsetDiv}u`);
  const lines = [];
  lines.push(...(half ? ["enable f16;"] : []), "enable chromium_experimental_subgroup_matrix;");
  lines.push("struct U { M : u32, N : u32, K : u32 }");
  lines.push(`@group(0) @binding(0) var<storage, read> A : array<${storage}>;`);
  lines.push(`@group(0) @binding(1) var<storage, read> B : array<${storage}>;`);
  lines.push(`@group(0) @binding(2) var<storage, read_write> C : array<${result}>;`);
  lines.push("@group(0) @binding(3) var<uniform> u : U;");
  lines.push(`@compute @workgroup_size(${sg * 4})`);
  // Offsets derive from subgroup_id: subgroup-uniform, which WGSL's analysis (workgroup uniformity) cannot show.
  lines.push("@diagnostic(off, chromium.subgroup_matrix_uniformity)");
  lines.push("fn main(@builtin(workgroup_id) wg : vec3u, @builtin(subgroup_id) sgid : u32) {");
  lines.push(`  let row0 = wg.y * ${2 * RM * cm}u + (sgid / 2u) * ${RM * cm}u;`);
  lines.push(`  let col0 = wg.x * ${2 * RN * cn}u + (sgid % 2u) * ${RN * cn}u;`);
  for (let i = 0; i < RM * RN; i++) lines.push(`  var acc${i} = subgroup_matrix_result<${result}, ${cn}, ${cm}>();`);
  lines.push(`  for (var k = 0u; k < u.K; k += ${ck}u) {`);
  for (let i = 0; i < RM; i++) lines.push(`    let a${i} = subgroupMatrixLoad<subgroup_matrix_left<${c.componentType}, ${ck}, ${cm}>>(&A, ${at(`(row0 + ${i * cm}u) * u.K + k`)}, false, u.K);`);
  for (let j = 0; j < RN; j++) lines.push(`    let b${j} = subgroupMatrixLoad<subgroup_matrix_right<${c.componentType}, ${cn}, ${ck}>>(&B, ${at(`(col0 + ${j * cn}u) * u.K + k`)}, true, u.K);`);
  for (let i = 0; i < RM; i++) for (let j = 0; j < RN; j++) lines.push(`    acc${i * RN + j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i * RN + j});`);
  lines.push("  }");
  for (let i = 0; i < RM; i++) for (let j = 0; j < RN; j++) lines.push(`  subgroupMatrixStore(&C, (row0 + ${i * cm}u) * u.N + col0 + ${j * cn}u, acc${i * RN + j}, false, u.N);`);
  lines.push("}");
  return lines.join("\n");
}

function buffer(data, usage) {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: usage | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
  return b;
}

async function run(code, c, RM, RN, sg, M, N, Kt, A16, B16, reps) {
  const ResultArray = c.resultComponentType === "f32" ? Float32Array : Int32Array;
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const messages = info.messages.filter((m) => m.type === "error").map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
  if (messages.length) return { error: messages.join("; ") };
  if (compileOnly) return { error: "compiled (null backend: not run)" };
  device.pushErrorScope("validation");
  const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const a = buffer(A16, GPUBufferUsage.STORAGE);
  const b = buffer(B16, GPUBufferUsage.STORAGE);
  const cbuf = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const ubuf = buffer(new Uint32Array([M, N, Kt, 0]), GPUBufferUsage.UNIFORM);
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [a, b, cbuf, ubuf].map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const dispatch = (n) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < n; i++) pass.dispatchWorkgroups(N / (2 * RN * c.N), M / (2 * RM * c.M));
    pass.end();
    device.queue.submit([enc.finish()]);
    return device.queue.onSubmittedWorkDone();
  };
  await dispatch(1);
  const err = await device.popErrorScope();
  if (err) return { error: err.message };
  let ms = null;
  if (reps > 0) {
    await dispatch(2);
    const t0 = performance.now();
    await dispatch(reps);
    ms = (performance.now() - t0) / reps;
  }
  const staging = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(cbuf, 0, staging, 0, M * N * 4);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const result = new ResultArray(staging.getMappedRange().slice(0));
  staging.unmap();
  for (const x of [a, b, cbuf, ubuf, staging]) x.destroy();
  return { ms, result };
}

// Split float32 values into `terms` half-precision parts laid side by side along K: row r of A becomes
// [hi(r) | lo(r) | rest(r)], and B's rows repeat, so one product sums every term's.
function splitRows(A, M, K, terms) {
  const out = new Uint16Array(M * K * terms);
  for (let r = 0; r < M; r++) {
    for (let k = 0; k < K; k++) {
      let rest = A[r * K + k];
      for (let t = 0; t < terms; t++) {
        const bits = halfBits(rest);
        out[r * K * terms + t * K + k] = bits;
        rest = Math.fround(rest - halfValue(bits));
      }
    }
  }
  return out;
}
function repeatRows(B, N, K, terms) {
  const out = new Uint16Array(N * K * terms);
  for (let n = 0; n < N; n++) for (let t = 0; t < terms; t++) out.set(B.subarray(n * K, (n + 1) * K), n * K * terms + t * K);
  return out;
}

out.results = [];
const sg = info.subgroupMaxSize ?? 32;
for (const c of configs) {
  if (c.componentType !== "f16" || c.resultComponentType !== "f32") continue;
  const RM = 2, RN = 2;
  const entry = { config: c, RM, RN };
  try {
    // Accuracy: a small product with activations of mixed scale (as a residual stream has) and half-exact weights.
    const M = 2 * RM * c.M * 2, N = 2 * RN * c.N * 2, K = 512;
    const A = new Float32Array(M * K), W = new Uint16Array(N * K), Wv = new Float64Array(N * K);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (let i = 0; i < A.length; i++) A[i] = Math.fround(rand() * (i % 97 === 0 ? 300 : 1.5));
    for (let i = 0; i < W.length; i++) { W[i] = halfBits(rand() * 0.05); Wv[i] = halfValue(W[i]); }
    const ref = new Float64Array(M * N), scale = new Float64Array(M * N), f32ref = new Float32Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0, sa = 0, s32 = 0;
      for (let k = 0; k < K; k++) { const p = A[m * K + k] * Wv[n * K + k]; s += p; sa += Math.abs(p); s32 = Math.fround(s32 + Math.fround(p)); }
      ref[m * N + n] = s; scale[m * N + n] = sa; f32ref[m * N + n] = s32;
    }
    const err = (res) => { let e = 0; for (let i = 0; i < ref.length; i++) e = Math.max(e, Math.abs(res[i] - ref[i]) / scale[i]); return e; };
    entry.cpu_f32_sequential_max_rel = err(f32ref);
    entry.terms = [];
    for (const terms of [1, 2, 3]) {
      const code = shader(c, RM, RN, sg);
      const r = await run(code, c, RM, RN, sg, M, N, K * terms, splitRows(A, M, K, terms), repeatRows(W, N, K, terms), 0);
      if (r.error) { entry.terms.push({ terms, error: r.error }); if (terms === 1) entry.wgsl = code; break; }
      entry.terms.push({ terms, max_rel: err(r.result) });
    }
    // Rate: SIZE³ (K per term count), random half values; TFLOP/s counts the float32 product's 2·M·N·K once.
    const S = SIZE;
    const big = new Uint16Array(S * S * 3);
    for (let i = 0; i < big.length; i++) big[i] = halfBits(rand());
    entry.timing = [];
    for (const terms of [1, 2, 3]) {
      const code = shader(c, RM, RN, sg);
      const r = await run(code, c, RM, RN, sg, S, S, S * terms, big.subarray(0, S * S * terms), big.subarray(0, S * S * terms), REPS);
      if (r.error) { entry.timing.push({ terms, error: r.error }); break; }
      entry.timing.push({ terms, ms: r.ms, tflops_f32_equivalent: (2 * S * S * S) / (r.ms * 1e9) });
    }
  } catch (e) {
    entry.error = String(e?.stack ?? e);
  }
  out.results.push(entry);
}
// 8-bit integer shapes (what Dawn offers on NVIDIA's Vulkan driver, bench/results/gpu-h100/matrix-units/): whether a
// product is exact and how a load's offset counts (bytes or i32 words), then the rate of a SIZE³ product in TOPS.
for (const c of configs) {
  if (c.componentType !== "i8" || c.resultComponentType !== "i32") continue;
  const RM = 2, RN = 2;
  const entry = { config: c, RM, RN, offsets: [] };
  try {
    const M = 2 * RM * c.M * 2, N = 2 * RN * c.N * 2, K = 256;
    let seed = 777;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24) - 128; // -128..127
    const A = Int8Array.from({ length: M * K }, rand);
    const B = Int8Array.from({ length: N * K }, rand);
    const ref = new Int32Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) { let sum = 0; for (let k = 0; k < K; k++) sum += A[m * K + k] * B[n * K + k]; ref[m * N + n] = sum; }
    let exactDiv = null;
    for (const div of [1, 4]) {
      const r = await run(shader(c, RM, RN, sg, div), c, RM, RN, sg, M, N, K, A, B, 0);
      if (r.error) { entry.offsets.push({ offset_counts: div === 1 ? "bytes" : "words", error: r.error }); continue; }
      let wrong = 0;
      for (let i = 0; i < ref.length; i++) if (r.result[i] !== ref[i]) wrong++;
      entry.offsets.push({ offset_counts: div === 1 ? "bytes" : "words", wrong_outputs: wrong, of: ref.length });
      if (wrong === 0 && exactDiv === null) exactDiv = div;
    }
    if (exactDiv !== null) {
      const S = SIZE;
      const big = Int8Array.from({ length: S * S }, rand);
      const r = await run(shader(c, RM, RN, sg, exactDiv), c, RM, RN, sg, S, S, S, big, big, REPS);
      entry.timing = r.error ? { error: r.error } : { ms: r.ms, tops: (2 * S * S * S) / (r.ms * 1e9) };
    }
  } catch (e) {
    entry.error = String(e?.stack ?? e);
  }
  out.results.push(entry);
}
out.device_errors = errors;
print(out);
process.exit(0);
