// The fused row kernels (norm, activation, attention's scale/softcap/mask/softmax) against the tfjs ops they
// replace, computed on the cpu backend; on a WebGPU adapter only (elsewhere skipped, saying why). Off webgpu
// every function returns null so that callers keep their composed ops.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { probeWebgpu } from "../../src/backend/probe-webgpu";
import { setBackend } from "../../src/backend";
import { fusedActivation, fusedActivationJoint, fusedLinear, fusedNorm, fusedRotaryHalf, fusedScoresSoftmax, type NormSpec } from "../../src/backend/kernels";

const MASKED = -3.4028234663852886e38;

function randoms(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2 * scale);
}

interface NormCase { shape: number[]; kind: "rms" | "layer"; weight: boolean; bias: boolean; offset: number }

/** The composed ops (as model/components/norm.ts computes them). */
function composedNorm(x: tf.Tensor, n: NormSpec): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    let y: tf.Tensor;
    if (n.kind === "rms") y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), axis, true), n.eps)));
    else {
      const c = tf.sub(x, tf.mean(x, axis, true));
      y = tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), axis, true), n.eps)));
    }
    if (n.weight) y = tf.mul(y, n.weightOffset !== 0 ? tf.add(n.weight, n.weightOffset) : n.weight);
    if (n.bias) y = tf.add(y, n.bias);
    return y;
  });
}

function composedActivation(x: tf.Tensor, act: string, up: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const y =
      act === "silu" ? tf.mul(x, tf.sigmoid(x))
      : act === "gelu_quick" ? tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))
      : act === "relu" ? tf.relu(x)
      : tf.mul(x, tf.sigmoid(tf.mul(tf.mul(tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))), Math.sqrt(2 / Math.PI)), 2)));
    return up ? tf.mul(y, up) : y;
  });
}

function composedScores(scores: tf.Tensor4D, mask: tf.Tensor4D, scale: number, softcap: number | null): tf.Tensor {
  return tf.tidy(() => {
    let s: tf.Tensor = tf.mul(scores, scale);
    if (softcap !== null) s = tf.mul(tf.tanh(tf.div(s, softcap)), softcap);
    return tf.softmax(tf.add(s, mask));
  });
}

/** Runs `make` with fresh inputs on cpu (composed) and webgpu (fused) and compares; returns the fused result's shape. */
async function compare(what: string, data: { shape: number[]; values: Float32Array }[], composed: (xs: tf.Tensor[]) => tf.Tensor, fused: (xs: tf.Tensor[]) => tf.Tensor | null, tol = 2e-6) {
  tf.env().set("PROD", true);
  await tf.setBackend("cpu");
  const cpuIn = data.map((d) => tf.tensor(d.values, d.shape));
  assert.equal(fused(cpuIn), null, `${what}: no fused kernel on cpu`);
  const ref = composed(cpuIn);
  const expected = (await ref.data()) as Float32Array;
  const shape = ref.shape;
  tf.dispose([...cpuIn, ref]);
  await setBackend("webgpu");
  const before = tf.memory().numTensors;
  const gpuIn = data.map((d) => tf.tensor(d.values, d.shape));
  const out = fused(gpuIn);
  assert.ok(out, `${what}: fused on webgpu`);
  const actual = (await out.data()) as Float32Array;
  assert.deepEqual(out.shape, shape, `${what}: shape`);
  tf.dispose([...gpuIn, out]);
  assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    assert.ok(!Number.isNaN(actual[i]), `${what}[${i}] is NaN`);
    assert.ok(Math.abs(actual[i] - e) <= tol * (1 + Math.abs(e)), `${what}[${i}] = ${actual[i]}, composed ops give ${e}`);
  }
}

async function webgpuOrSkip(t: { skip(msg: string): void }): Promise<boolean> {
  const probe = await probeWebgpu();
  if (!probe.available && !probe.usableOnRequest) {
    t.skip(`no WebGPU adapter here: ${probe.reason}`);
    return false;
  }
  return true;
}

test("fusedNorm gives the composed RMSNorm / LayerNorm ops' numbers (weights, offsets, biases, ragged widths)", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const cases: NormCase[] = [
    { shape: [2, 3, 768], kind: "layer", weight: true, bias: true, offset: 0 },
    { shape: [5, 896], kind: "rms", weight: true, bias: false, offset: 0 },
    { shape: [3, 1000], kind: "rms", weight: true, bias: false, offset: 1 },
    { shape: [4, 2, 64], kind: "rms", weight: false, bias: false, offset: 0 },
    { shape: [7, 33], kind: "layer", weight: false, bias: false, offset: 0 },
  ];
  for (const [i, c] of cases.entries()) {
    const d = c.shape[c.shape.length - 1];
    const x = { shape: c.shape, values: randoms(c.shape.reduce((p, v) => p * v, 1), 10 + i, 3).map((v, j) => v + (j % d === 0 ? 20 : 0)) };
    const data = [x, ...(c.weight ? [{ shape: [d], values: randoms(d, 20 + i) }] : []), ...(c.bias ? [{ shape: [d], values: randoms(d, 30 + i) }] : [])];
    const spec = (xs: tf.Tensor[]): NormSpec => ({ kind: c.kind, weight: c.weight ? (xs[1] as tf.Tensor1D) : null, bias: c.bias ? (xs[c.weight ? 2 : 1] as tf.Tensor1D) : null, eps: 1e-5, weightOffset: c.offset });
    await compare(`${c.kind} [${c.shape}] w=${c.weight} b=${c.bias} offset=${c.offset}`, data, (xs) => composedNorm(xs[0], spec(xs)), (xs) => fusedNorm(xs[0], spec(xs)), 5e-6);
  }
});

test("fusedActivation gives the composed activation ops' numbers, gated or not, without NaN at ±40", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const shape = [3, 5, 130];
  const n = 3 * 5 * 130;
  const x = randoms(n, 3, 6);
  x[0] = 40;
  x[1] = -40;
  const up = randoms(n, 4, 2);
  for (const act of ["silu", "gelu_tanh", "gelu_quick", "relu"]) {
    await compare(`${act}`, [{ shape, values: x }], (xs) => composedActivation(xs[0], act, null), (xs) => fusedActivation(xs[0], act));
    await compare(`${act} gated`, [{ shape, values: x }, { shape, values: up }], (xs) => composedActivation(xs[0], act, xs[1]), (xs) => fusedActivation(xs[0], act, xs[1]));
  }
  await setBackend("webgpu");
  const g = tf.ones([4, 4]);
  assert.equal(fusedActivation(g, "gelu"), null, "exact gelu (erf) stays composed");
  g.dispose();
});

test("fusedActivationJoint reads gate | up from one product's rows and gives fusedActivation(gate, act, up)'s numbers", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  await setBackend("webgpu");
  const [rows, F] = [7, 130];
  const gate = tf.tensor2d(randoms(rows * F, 5, 6), [rows, F]);
  const up = tf.tensor2d(randoms(rows * F, 6, 2), [rows, F]);
  const joint = tf.concat([gate, up], 1);
  for (const act of ["silu", "gelu_tanh", "gelu_quick", "relu"]) {
    const apart = fusedActivation(gate, act, up)!;
    const together = fusedActivationJoint(joint, act)!;
    assert.deepEqual(together.shape, [rows, F]);
    assert.deepEqual(await together.data(), await apart.data(), `${act}: the same bits as gate and up apart`);
    tf.dispose([apart, together]);
  }
  // A batch of sequences [1, pos, 2F] → [1, pos, F]; an odd last axis cannot hold two halves.
  const batched = fusedActivationJoint(tf.reshape(joint, [1, rows, 2 * F]), "silu")!;
  assert.deepEqual(batched.shape, [1, rows, F]);
  const odd = tf.ones([2, 5]);
  assert.equal(fusedActivationJoint(odd, "silu"), null);
  tf.dispose([gate, up, joint, batched, odd]);
});

test("fusedScoresSoftmax gives softmax(softcap(scores · scale) + mask) with causal masks, sliding windows and long rows", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  for (const [b, h, q, k, softcap, window] of [[2, 3, 5, 7, null, null], [1, 4, 6, 6, 50, 3], [1, 2, 3, 1030, null, null]] as const) {
    const scores = randoms(b * h * q * k, q * k, 8);
    const mask = new Float32Array(b * q * k);
    for (let bb = 0; bb < b; bb++) {
      for (let i = 0; i < q; i++) {
        const qi = k - q + i; // queries are the last q keys (a KV cache's past comes first)
        for (let j = 0; j < k; j++) if (j > qi || (window !== null && qi - j >= window) || (bb === 1 && j === 0)) mask[(bb * q + i) * k + j] = MASKED;
      }
    }
    await compare(
      `[${b},${h},${q},${k}] softcap ${softcap} window ${window}`,
      [{ shape: [b, h, q, k], values: scores }, { shape: [b, 1, q, k], values: mask }],
      (xs) => composedScores(xs[0] as tf.Tensor4D, xs[1] as tf.Tensor4D, 0.125, softcap),
      (xs) => fusedScoresSoftmax(xs[0] as tf.Tensor4D, xs[1] as tf.Tensor4D, 0.125, softcap),
    );
  }
});

/** model/components/rotary.ts's "half" style: [x₁, x₂]·[cos, cos] + [x₂, x₁]·[−sin, sin] on the first rot features. */
function composedRotary(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D, rot: number): tf.Tensor {
  return tf.tidy(() => {
    const d = x.shape[3];
    const half = rot / 2;
    const xr = rot === d ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, rot]);
    const swapped = tf.concat([tf.slice(xr, [0, 0, 0, half], [-1, -1, -1, half]), tf.slice(xr, [0, 0, 0, 0], [-1, -1, -1, half])], 3);
    const rotated = tf.add(tf.mul(xr, cos), tf.mul(swapped, sin));
    return rot === d ? rotated : tf.concat([rotated, tf.slice(x, [0, 0, 0, rot], [-1, -1, -1, d - rot])], 3);
  });
}

test("fusedRotaryHalf gives the composed rotation, full and partial, and fusedLinear the product plus bias", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  for (const [b, p, h, d, rot] of [[2, 5, 3, 16, 16], [1, 7, 4, 32, 8]]) {
    const x = { shape: [b, p, h, d], values: randoms(b * p * h * d, d + rot, 2) };
    const angles = randoms(b * p * (rot / 2), rot, 3);
    const cos = new Float32Array(b * p * rot);
    const sin = new Float32Array(b * p * rot);
    for (let r = 0; r < b * p; r++) {
      for (let i = 0; i < rot / 2; i++) {
        const a = angles[r * (rot / 2) + i];
        cos[r * rot + i] = cos[r * rot + rot / 2 + i] = Math.cos(a);
        sin[r * rot + i] = -Math.sin(a);
        sin[r * rot + rot / 2 + i] = Math.sin(a);
      }
    }
    const table = [b, p, 1, rot];
    await compare(`rotary [${b},${p},${h},${d}] rot ${rot}`, [x, { shape: table, values: cos }, { shape: table, values: sin }],
      (xs) => composedRotary(xs[0] as tf.Tensor4D, xs[1] as tf.Tensor4D, xs[2] as tf.Tensor4D, rot),
      (xs) => fusedRotaryHalf(xs[0] as tf.Tensor4D, xs[1] as tf.Tensor4D, xs[2] as tf.Tensor4D, rot));
  }
  for (const [m, k, n] of [[130, 64, 96], [3, 40, 50]]) {
    await compare(`linear [${m},${k}]x[${k},${n}] + b`, [{ shape: [m, k], values: randoms(m * k, 1) }, { shape: [k, n], values: randoms(k * n, 2) }, { shape: [n], values: randoms(n, 3) }],
      (xs) => tf.tidy(() => tf.add(tf.matMul(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D), xs[2])),
      (xs) => fusedLinear(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D, xs[2] as tf.Tensor1D), 1e-5);
  }
});
