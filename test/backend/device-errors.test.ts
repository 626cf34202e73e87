// A WebGPU validation error drops the rejected commands without an exception: lmprobe logs it and makes the next
// read of a tensor throw DeviceValidationError, rather than return values those commands should have produced.
// Runs where a WebGPU adapter exists; skips elsewhere, saying why.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { DeviceValidationError } from "../../src/errors";
import { webgpuOrSkip } from "./webgpu-helpers";

test("after the GPU rejects work, the next read throws DeviceValidationError once; later reads work", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const x = tf.tensor1d(Float32Array.from({ length: 4096 }, (_, i) => i));
  const y = tf.mul(x, 2);
  const logged: unknown[] = [];
  const log = console.error;
  console.error = (...args: unknown[]) => logged.push(args.join(" "));
  try {
    device.createBuffer({ size: 4, usage: 0 }); // invalid: a buffer needs a usage
    await assert.rejects(y.data(), (err: unknown) => err instanceof DeviceValidationError && /rejected work/.test((err as Error).message) && /load the model again/.test((err as DeviceValidationError).fix ?? ""));
  } finally {
    console.error = log;
  }
  assert.ok(logged.some((line) => String(line).startsWith("lmprobe webgpu:")), "the error is logged too");
  const z = tf.add(x, 1);
  const values = await z.data();
  assert.equal(values[4095], 4096, "a read after the error was thrown works");
  tf.dispose([x, y, z]);
});

test("submitting the backend's queue with a compute pass open ends the pass first: the recorded ops run", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const backend = tf.backend() as unknown as { commandEncoder: unknown; computePassEncoder: unknown; submitQueue(): void };
  const x = tf.tensor1d(Float32Array.from({ length: 4096 }, (_, i) => i));
  const y = tf.mul(x, 3); // recorded into an open pass
  assert.ok(backend.computePassEncoder, "a compute pass is open");
  backend.submitQueue();
  const values = await y.data(); // would throw DeviceValidationError had the buffer been rejected
  assert.equal(values[4095], 3 * 4095);
  tf.dispose([x, y]);
});
