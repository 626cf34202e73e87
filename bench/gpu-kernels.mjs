// Kernel-level GPU measurements for bench/run.mjs --kernels (webgpu backend only): correctness of tfjs ops
// and of lmprobe's kernels against float64 on the host, matrix-product FLOP/s of lmprobe's tiled kernel and
// of tfjs-webgpu's own, the logit-statistics pass in bytes/s, and a buffer copy for the memory ceiling.
import { performance } from "node:perf_hooks";

function randoms(n, seed, scale = 1) {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Waits until the GPU has finished everything tfjs queued. */
async function drain(tf) {
  const backend = tf.backend();
  // tfjs records into an open compute pass: end it before submitting, or the command buffer is invalid and
  // nothing runs. submitQueue() also assumes an open encoder, absent when nothing was recorded since the last.
  backend.endComputePassEncoder();
  if (backend.commandEncoder != null) backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** Median ms of fn() on the GPU: each rep submits and waits, so the time is the GPU's, not the queueing's. */
async function gpuTime(tf, fn, reps = 10, warmup = 3) {
  const times = [];
  for (let i = 0; i < warmup + reps; i++) {
    await drain(tf);
    const t0 = performance.now();
    const out = fn();
    await drain(tf);
    const dt = performance.now() - t0;
    tf.dispose(out);
    if (i >= warmup) times.push(dt);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function relError(got, ref) {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

async function correctness(lmprobe, tf) {
  const out = {};
  const M = 300, N = 260, K = 96;
  const a = randoms(M * K, 1), b = randoms(K * N, 2);
  const ref = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) ref[i * N + j] += a[i * K + k] * b[k * N + j];
  for (const path of ["lmprobe", "tfjs"]) {
    process.env.LMPROBE_WEBGPU_MATMUL = path;
    const c = tf.matMul(tf.tensor2d(a, [M, K]), tf.tensor2d(b, [K, N]));
    out[`matmul_${path}_rel_error`] = relError(await c.data(), ref);
    c.dispose();
  }
  delete process.env.LMPROBE_WEBGPU_MATMUL;
  const x = randoms(64 * 1000, 3, 6);
  const sm = tf.softmax(tf.tensor2d(x, [64, 1000]));
  const smv = await sm.data();
  const smRef = new Float64Array(x.length);
  for (let r = 0; r < 64; r++) {
    const row = x.subarray(r * 1000, (r + 1) * 1000);
    const m = Math.max(...row);
    const s = row.reduce((acc, v) => acc + Math.exp(v - m), 0);
    row.forEach((v, i) => (smRef[r * 1000 + i] = Math.exp(v - m) / s));
  }
  out.softmax_rel_error = relError(smv, smRef);
  const top = tf.topk(tf.tensor2d(x, [64, 1000]), 5);
  const ids = await top.indices.data();
  let topOk = true;
  for (let r = 0; r < 64; r++) {
    const order = Array.from(x.subarray(r * 1000, (r + 1) * 1000)).map((v, i) => [v, i]).sort((p, q) => q[0] - p[0]).slice(0, 5);
    if (order.some(([, i], j) => ids[r * 5 + j] !== i)) topOk = false;
  }
  out.topk_ids_match = topOk;
  const st = lmprobe.logitStats(tf.tensor2d(x, [64, 1000]), 5);
  const lse = await st.logSumExp.data();
  const lseRef = Array.from({ length: 64 }, (_, r) => {
    const row = x.subarray(r * 1000, (r + 1) * 1000);
    const m = Math.max(...row);
    return m + Math.log(row.reduce((acc, v) => acc + Math.exp(v - m), 0));
  });
  out.logit_stats_lse_rel_error = relError(lse, lseRef);
  tf.dispose([sm, top.values, top.indices, st.logSumExp, st.entropy, st.topLogits, st.topIds]);
  return out;
}

async function matmulRates(tf) {
  const shapes = [
    { name: "square 4096", M: 4096, N: 4096, K: 4096, transposeB: false },
    { name: "qwen lens chunk [1024,896]x[151936,896]^T", M: 1024, N: 151936, K: 896, transposeB: true },
    { name: "gpt2 lens chunk [1024,768]x[50257,768]^T", M: 1024, N: 50257, K: 768, transposeB: true },
    { name: "qwen mlp [1024,896]x[896,4864]", M: 1024, N: 4864, K: 896, transposeB: false },
    { name: "gpt2 proj [1024,768]x[768,768] (64-wide blocks)", M: 1024, N: 768, K: 768, transposeB: false },
    { name: "gpt2 mlp out [1024,3072]x[3072,768] (64-wide blocks)", M: 1024, N: 768, K: 3072, transposeB: false },
  ];
  const rows = [];
  for (const s of shapes) {
    const a = tf.tensor2d(randoms(s.M * s.K, 5), [s.M, s.K]);
    const b = tf.tensor2d(randoms(s.N * s.K, 6), s.transposeB ? [s.N, s.K] : [s.K, s.N]);
    const row = { shape: s.name };
    for (const path of ["lmprobe", "tfjs"]) {
      process.env.LMPROBE_WEBGPU_MATMUL = path;
      const ms = await gpuTime(tf, () => tf.matMul(a, b, false, s.transposeB), 5, 2);
      row[`${path}_ms`] = +ms.toFixed(3);
      row[`${path}_tflops`] = +((2 * s.M * s.N * s.K) / ms / 1e9).toFixed(2);
    }
    delete process.env.LMPROBE_WEBGPU_MATMUL;
    tf.dispose([a, b]);
    rows.push(row);
  }
  return rows;
}

async function statsRates(lmprobe, tf) {
  const rows = [];
  for (const [R, V] of [[1024, 151936], [1024, 50257]]) {
    const logits = tf.tensor2d(randoms(R * V, 9, 10), [R, V]);
    const fused = await gpuTime(tf, () => Object.values(lmprobe.logitStats(logits, 5)));
    const composite = await gpuTime(tf, () => {
      const lp = lmprobe.logSoftmax(logits);
      const top = tf.topk(lp, 5);
      const h = tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1));
      return [lp, top.values, top.indices, h];
    }, 3, 1);
    logits.dispose();
    const bytes = R * V * 4;
    rows.push({ shape: `[${R}, ${V}]`, fused_ms: +fused.toFixed(3), fused_gb_per_s: +(bytes / fused / 1e6).toFixed(1), tfjs_ops_ms: +composite.toFixed(3) });
  }
  return rows;
}

async function copyRate(tf) {
  const device = tf.backend().device;
  const bytes = 2 ** 30;
  const usage = globalThis.GPUBufferUsage;
  const src = device.createBuffer({ size: bytes, usage: usage.COPY_SRC | usage.STORAGE });
  const dst = device.createBuffer({ size: bytes, usage: usage.COPY_DST | usage.STORAGE });
  const times = [];
  for (let i = 0; i < 8; i++) {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, bytes);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    if (i >= 2) times.push(performance.now() - t0);
  }
  src.destroy();
  dst.destroy();
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  return { bytes, ms: +ms.toFixed(3), gb_per_s_read_plus_write: +((2 * bytes) / ms / 1e6).toFixed(1) };
}

/** CPU cost per dispatch: a chain of small adds on GPU-resident data, issued then drained, lean path vs tfjs's. */
export async function dispatchCost(lmprobe, tf) {
  const out = {};
  const n = 3000;
  for (const lean of [true, false]) {
    lmprobe.setLeanDispatch(lean);
    const x = tf.add(tf.zeros([1024]), 1); // computed on the GPU, so its data lives there
    let best = Infinity;
    for (let rep = 0; rep < 4; rep++) {
      await drain(tf);
      const t0 = performance.now();
      let y = tf.add(x, 1);
      for (let i = 1; i < n; i++) {
        const next = tf.add(y, 1);
        y.dispose();
        y = next;
      }
      const issued = performance.now() - t0;
      await y.data();
      const total = performance.now() - t0;
      y.dispose();
      if (rep > 0) best = Math.min(best, total);
      out[lean ? "lean" : "tfjs"] = { us_per_dispatch_issue: +((issued * 1000) / n).toFixed(2), us_per_dispatch_total: +((best * 1000) / n).toFixed(2) };
    }
    x.dispose();
  }
  lmprobe.setLeanDispatch(true);
  out.bind_groups = lmprobe.leanDispatchStats();
  return out;
}

/** The fused row kernels and the matmul bias epilogue against the tfjs ops they replace (GPU time). */
export async function fusedRates(lmprobe, tf) {
  const rows = [];
  const measure = async (name, bytes, fused, composed) => {
    const f = await gpuTime(tf, fused);
    const c = await gpuTime(tf, composed);
    rows.push({ kernel: name, fused_ms: +f.toFixed(3), fused_gb_per_s: +(bytes / f / 1e6).toFixed(1), tfjs_ops_ms: +c.toFixed(3) });
  };
  {
    const [R, D] = [8192, 896];
    const x = tf.tensor2d(randoms(R * D, 1), [R, D]);
    const w = tf.tensor1d(randoms(D, 2));
    const spec = { kind: "rms", weight: w, bias: null, eps: 1e-6, weightOffset: 0 };
    await measure(`rms norm [${R}, ${D}]`, 2 * R * D * 4, () => lmprobe.fusedNorm(x, spec), () =>
      tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), 1e-6))), w)));
    tf.dispose([x, w]);
  }
  {
    const [B, H, T] = [1, 14, 1024];
    const scores = tf.tensor4d(randoms(B * H * T * T, 3, 4), [B, H, T, T]);
    const maskv = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskv[i * T + j] = -3.4028234663852886e38;
    const mask = tf.tensor4d(maskv, [1, 1, T, T]);
    await measure(`scores softmax [${B}, ${H}, ${T}, ${T}]`, (2 * B * H * T * T + T * T) * 4, () => lmprobe.fusedScoresSoftmax(scores, mask, 0.125, null), () =>
      tf.tidy(() => tf.softmax(tf.add(tf.mul(scores, 0.125), mask))));
    tf.dispose([scores, mask]);
  }
  {
    const [R, D] = [1024, 4864];
    const g = tf.tensor2d(randoms(R * D, 4, 3), [R, D]);
    const u = tf.tensor2d(randoms(R * D, 5), [R, D]);
    await measure(`silu(gate) · up [${R}, ${D}]`, 3 * R * D * 4, () => lmprobe.fusedActivation(g, "silu", u), () => tf.tidy(() => tf.mul(tf.mul(g, tf.sigmoid(g)), u)));
    tf.dispose([g, u]);
  }
  {
    // The layer-similarity Gram matrix of GPT-2 at T = 1024: 13 × 13 outputs over 786 432 terms.
    const [L, K] = [13, 1024 * 768];
    const x = tf.tensor2d(randoms(L * K, 9), [L, K]);
    const f = await gpuTime(tf, () => tf.matMul(x, x, false, true));
    process.env.LMPROBE_WEBGPU_MATMUL = "tfjs";
    const c = await gpuTime(tf, () => tf.matMul(x, x, false, true), 3, 1);
    delete process.env.LMPROBE_WEBGPU_MATMUL;
    rows.push({ kernel: `gram [${L}, ${K}]·[${L}, ${K}]ᵀ (split-K, two passes)`, fused_ms: +f.toFixed(3), fused_gb_per_s: +((L * K * 4) / f / 1e6).toFixed(1), tfjs_ops_ms: +c.toFixed(3) });
    x.dispose();
  }
  {
    const [M, K, N] = [1024, 896, 4864];
    const a = tf.tensor2d(randoms(M * K, 6), [M, K]);
    const b = tf.tensor2d(randoms(K * N, 7), [K, N]);
    const bias = tf.tensor1d(randoms(N, 8));
    const f = await gpuTime(tf, () => tf.fused.matMul({ a, b, bias }));
    const c = await gpuTime(tf, () => tf.tidy(() => tf.add(tf.matMul(a, b), bias)));
    rows.push({ kernel: `matmul + bias [${M},${K}]x[${K},${N}]`, fused_ms: +f.toFixed(3), fused_tflops: +((2 * M * N * K) / f / 1e9).toFixed(2), tfjs_ops_ms: +c.toFixed(3) });
    tf.dispose([a, b, bias]);
  }
  return rows;
}

export async function benchKernels(lmprobe, tf) {
  if (tf.getBackend() !== "webgpu") return { skipped: `backend is ${tf.getBackend()}, not webgpu` };
  const out = {};
  for (const [key, fn] of [["correctness", () => correctness(lmprobe, tf)], ["copy", () => copyRate(tf)], ["matmul", () => matmulRates(tf)], ["logit_stats", () => statsRates(lmprobe, tf)], ["fused", () => fusedRates(lmprobe, tf)], ["dispatch", () => dispatchCost(lmprobe, tf)]]) {
    try {
      out[key] = await fn();
    } catch (err) {
      out[key] = { error: String(err?.stack ?? err) };
    }
    console.error(key, JSON.stringify(out[key]));
  }
  return out;
}
