// Plain float64 JavaScript references and small helpers shared by the tensor/ tests.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { seededRandom } from "../../src/model/sampling";
import { registerNativeBackend } from "../../src/backend/native";

/** Activates a tfjs backend directly (the tensor ops must work on whichever one is active). */
export async function setBackend(name: string): Promise<void> {
  tf.env().set("PROD", true);
  if (name === "cpu-native") registerNativeBackend();
  assert.ok(await tf.setBackend(name), `backend ${name} failed to start`);
  await tf.ready();
}

/** Seeded uniform [0, 1) generator (mulberry32), so failures reproduce. */
export const rng = seededRandom;

/** Rows × cols normal(0, scale) values as nested arrays. */
export function randomMatrix(rows: number, cols: number, seed: number, scale = 1): number[][] {
  const u = rng(seed);
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => scale * Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u())),
  );
}

/** Rows with the awkward values: ±1e4 logits, -Infinity masks, a fully masked row, a one-hot row. */
export function extremeRows(cols: number, seed: number): number[][] {
  const rows = randomMatrix(6, cols, seed, 3);
  rows[0] = rows[0].map((v, i) => (i % 3 === 0 ? 1e4 : v));
  rows[1] = rows[1].map((v, i) => (i % 2 === 0 ? -1e4 : v));
  rows[2] = rows[2].map((v, i) => (i % 4 === 1 ? -Infinity : v * 1e3));
  rows[3] = rows[3].map(() => -Infinity);
  rows[4] = rows[4].map((_, i) => (i === 2 ? 0 : -Infinity));
  rows[5] = rows[5].map((v, i) => (i === cols - 1 ? 1e4 : -1e4 + v));
  return rows;
}

export function logSumExp64(row: number[]): number {
  const m = Math.max(...row);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
}

export function logSoftmax64(row: number[]): number[] {
  const lse = logSumExp64(row);
  return row.map((x) => (lse === -Infinity ? -Infinity : x - lse));
}

export function softmax64(row: number[]): number[] {
  const lse = logSumExp64(row);
  return row.map((x) => (lse === -Infinity ? 0 : Math.exp(x - lse)));
}

export function entropy64(row: number[]): number {
  return -softmax64(row).reduce((s, p) => s + (p > 0 ? p * Math.log(p) : 0), 0);
}

export function norm64(v: number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

export function cosine64(a: number[], b: number[]): number {
  const na = norm64(a);
  const nb = norm64(b);
  if (na === 0 || nb === 0) return 0;
  return a.reduce((s, x, i) => s + x * b[i], 0) / (na * nb);
}

/** |actual − expected| ≤ atol + rtol·|expected| elementwise; equal infinities pass; no NaN anywhere. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what = "value"): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    assert.ok(!Number.isNaN(a), `${what}[${i}] is NaN (expected ${e})`);
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${what}[${i}]`);
      continue;
    }
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}] = ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
  }
}

/** wasm, tfjs's JavaScript cpu kernels, and the native CPU path (onnxruntime kernels under tfjs's cpu backend). */
export const BACKENDS = ["wasm", "cpu", "cpu-native"] as const;

const inputs: tf.Tensor[] = [];

/** Marks a test input: onEachBackend disposes it, so that any other tensor left behind is the op's leak. */
export function input<T extends tf.Tensor>(t: T): T {
  inputs.push(t);
  return t;
}

/** Runs `body` once per backend (default: all of BACKENDS), and checks that the ops it calls leave no tensor behind. */
export async function onEachBackend(body: (backend: string) => Promise<void> | void, backends: readonly string[] = BACKENDS): Promise<void> {
  for (const backend of backends) {
    await setBackend(backend);
    const before = tf.memory().numTensors;
    await body(backend);
    tf.dispose(inputs.splice(0));
    assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
  }
}

/** Runs `f`, reads its tensor result and disposes it. */
export async function read(f: () => tf.Tensor): Promise<number[]> {
  const t = f();
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}
