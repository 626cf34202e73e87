// Packed weights written to the device a slice of rows at a time (backend/packed-upload.ts), with the slice size
// forced tiny (LMPROBE_UPLOAD_SLICE_BYTES) so that every tensor spans many slices: the values on the device must be
// the file's, for rows of even length (written straight from the file's bytes) and of odd length (padded row by row),
// through the deferred load and the synchronous path (a weight a converter uses during the build), and for a block
// of rows of a fused tensor; a NaN in the last slice must be refused by name with nothing left allocated. Runs where
// a WebGPU adapter exists; skips elsewhere, saying why.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { float32Weight, packWeightLater, withDeferredWeightUploads, type PackedWeight } from "../../src/backend/packed-weight";
import { lastUploadStats } from "../../src/backend/packed-upload";
import { NonFiniteWeightError } from "../../src/errors";
import { bfloat16ToFloat32, float32ToBfloat16Bits } from "../../src/io/half-float";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { writeSafetensors } from "../../src/io/safetensors-writer";
import { webgpuOrSkip } from "./webgpu-helpers";

/** Random bf16 patterns of a [rows, cols] matrix. */
function bf16Bits(rows: number, cols: number, seed: number): Uint16Array {
  let s = seed >>> 0;
  const out = new Uint16Array(rows * cols);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = float32ToBfloat16Bits(((s / 2 ** 32) * 2 - 1) * 3);
  }
  return out;
}

function widened(bits: Uint16Array, rows: number, cols: number): number[][] {
  const f = new Float32Array(bits.length);
  bfloat16ToFloat32(bits, f);
  return Array.from({ length: rows }, (_, r) => Array.from(f.subarray(r * cols, (r + 1) * cols)));
}

const SHAPES: Record<string, [number, number]> = { even: [37, 12], odd: [41, 13], fused: [30, 9] };

function writeMatrices(dir: string, nanAtEnd: string | null): Record<string, Uint16Array> {
  const bits: Record<string, Uint16Array> = {};
  let seed = 7;
  for (const [name, [rows, cols]] of Object.entries(SHAPES)) {
    bits[name] = bf16Bits(rows, cols, seed++);
    if (name === nanAtEnd) bits[name][bits[name].length - 1] = 0x7fc1;
  }
  writeSafetensors(
    path.join(dir, "model.safetensors"),
    Object.fromEntries(Object.entries(bits).map(([name, b]) => [name, { dtype: "BF16" as const, shape: SHAPES[name], bytes: new Uint8Array(b.buffer) }])),
  );
  return bits;
}

async function withSliceBytes<T>(bytes: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.LMPROBE_UPLOAD_SLICE_BYTES;
  process.env.LMPROBE_UPLOAD_SLICE_BYTES = bytes;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_UPLOAD_SLICE_BYTES;
    else process.env.LMPROBE_UPLOAD_SLICE_BYTES = saved;
  }
}

test("packed weights stream to the device in slices smaller than a tensor: even and odd rows, a fused tensor's blocks, a weight used during the build", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-slices-"));
  try {
    const bits = writeMatrices(dir, null);
    const source = openWeightSource(dir);
    const before = tf.memory().numTensors;
    // 50 bytes: 2 rows of 12 or 13 values a slice, 5 of 9 (an odd number of values, so a slice ends mid-word).
    const weights = await withSliceBytes("50", () =>
      withDeferredWeightUploads(
        () => {
          const even = packWeightLater(source.halfRanges("even")!, SHAPES.even, "bf16", false);
          const odd = packWeightLater(source.halfRanges("odd")!, SHAPES.odd, "bf16", false);
          // Rows [10, 30) of "fused" as one weight, read through an offset as the loader's linearSplit does.
          const ranges = source.halfRanges("fused")!;
          const offset = 10 * SHAPES.fused[1];
          const block = packWeightLater({ read: (f, x) => ranges.read(offset + f, x), readSync: (f, x) => ranges.readSync(offset + f, x) }, [20, SHAPES.fused[1]], "bf16", false);
          const early = packWeightLater(source.halfRanges("odd")!, SHAPES.odd, "bf16", false);
          assert.ok(early.pendingUpload);
          tf.dispose(float32Weight(early)); // written now, synchronously, in slices
          assert.ok(!early.pendingUpload);
          return { even, odd, block, early };
        },
        (w) => Object.values(w).forEach((x) => x.dispose()),
      ),
    );
    source.close();
    const stats = lastUploadStats()!;
    assert.ok(stats.slices >= 19 + 21 + 4, `every tensor spans several slices (${stats.slices})`);
    const read = async (w: PackedWeight) => {
      const f = float32Weight(w);
      const v = await f.array();
      f.dispose();
      return v;
    };
    assert.deepEqual(await read(weights.even), widened(bits.even, ...SHAPES.even));
    assert.deepEqual(await read(weights.odd), widened(bits.odd, ...SHAPES.odd));
    assert.deepEqual(await read(weights.early), widened(bits.odd, ...SHAPES.odd));
    assert.deepEqual(await read(weights.block), widened(bits.fused, ...SHAPES.fused).slice(10, 30));
    Object.values(weights).forEach((w) => w.dispose());
    assert.equal(tf.memory().numTensors, before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a NaN in a tensor's last slice is refused naming the tensor and its index, with nothing left allocated", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-slices-nan-"));
  try {
    writeMatrices(dir, "odd");
    const source = openWeightSource(dir);
    const before = tf.memory().numTensors;
    const [rows, cols] = SHAPES.odd;
    await assert.rejects(
      withSliceBytes("50", () =>
        withDeferredWeightUploads(
          () => [packWeightLater(source.halfRanges("even")!, SHAPES.even, "bf16", false), packWeightLater(source.halfRanges("odd")!, SHAPES.odd, "bf16", false)],
          (ws) => ws.forEach((w) => w.dispose()),
        ),
      ),
      (e: Error) => e instanceof NonFiniteWeightError && e.tensor === "odd" && e.index === rows * cols - 1 && e.message.includes('"odd"'),
    );
    source.close();
    assert.ok(lastUploadStats()!.slices > 2, "the NaN was found in a later slice, not in a whole-tensor read");
    assert.equal(tf.memory().numTensors, before, "the weights written before the NaN were disposed");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
