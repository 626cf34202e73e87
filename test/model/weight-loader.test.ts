// WeightLoader.linear transposes nn.Linear weights ([out, in] → [in, out]) on the host. On wasm one buffer is
// reused for every transpose (the backend copies values when a tensor is made); elsewhere each weight gets its
// own array, since a backend may keep the array itself. Both must leave every weight intact.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import type { WeightSource } from "../../src/io/weight-source";
import { transposeInto, WeightLoader, widenTransposedInto } from "../../src/model/architectures/weight-loader";
import { bfloat16ToFloat32, float16ToFloat32 } from "../../src/io/half-float";
import { NonFiniteWeightError } from "../../src/errors";
import { onEachBackend } from "../tensor/reference";

/** Values that say where they are: element [i][j] of tensor t is t·10⁴ + i·100 + j. */
function numbered(t: number, rows: number, cols: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, k) => t * 1e4 + Math.floor(k / cols) * 100 + (k % cols));
}

function source(tensors: Record<string, { rows: number; cols: number }>): WeightSource {
  const names = Object.keys(tensors);
  return {
    origin: "memory",
    names: () => [...names].sort(),
    has: (n) => n in tensors,
    info: (n) => ({ name: n, dtype: "F32", shape: [tensors[n].rows, tensors[n].cols], file: "memory" }),
    read: (n) => numbered(names.indexOf(n), tensors[n].rows, tensors[n].cols),
    close: () => undefined,
  };
}

test("transposeInto: tiles of 32 with ragged edges give the exact transpose", () => {
  const [rows, cols] = [45, 70];
  const src = numbered(0, rows, cols);
  const out = new Float32Array(rows * cols);
  transposeInto(src, rows, cols, out);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) assert.equal(out[j * rows + i], src[i * cols + j]);
});

test("consecutive linear weights keep their own values on every backend (the reused buffer is copied, not shared)", async () => {
  await onEachBackend(async (backend) => {
    const shapes = { big: { rows: 40, cols: 33 }, small: { rows: 3, cols: 5 }, other: { rows: 40, cols: 33 } };
    const w = new WeightLoader(source(shapes), "test");
    const loaded = Object.entries(shapes).map(([name, s]) => ({ name, s, t: w.linear(name, s.cols, s.rows) }));
    for (const [index, { name, s, t }] of loaded.entries()) {
      assert.deepEqual(t.shape, [s.cols, s.rows], `${backend} ${name}: [in, out]`);
      const values = (await t.data()) as Float32Array;
      const expected = tf.tidy(() => tf.transpose(tf.tensor2d(numbered(index, s.rows, s.cols), [s.rows, s.cols])).dataSync());
      assert.deepEqual(Array.from(values), Array.from(expected), `${backend} ${name}`);
    }
    tf.dispose(loaded.map((l) => l.t));
  });
});

// BF16/F16 nn.Linear weights are widened and transposed in one pass (widenTransposedInto), checking for NaN and
// Infinity as they go: the same float32 values as widening first (bfloat16ToFloat32 / float16ToFloat32) and
// transposing after, on the 2 × 2 path (even shapes, ragged tiles of rows and of columns) and the plain one (odd
// shapes).
for (const format of ["bf16", "f16"] as const) {
  for (const [rows, cols] of [[46, 70], [518, 22], [45, 70], [46, 33], [2, 2], [1, 1]]) {
    test(`widenTransposedInto ${format} [${rows}, ${cols}]: widening then transposing, exactly`, () => {
      const bits = new Uint16Array(rows * cols);
      let x = 12345;
      for (let k = 0; k < bits.length; k++) {
        x = (x * 1103515245 + 12345) >>> 0;
        // Random sign, mantissa and any finite exponent (subnormals and zeros included).
        bits[k] = format === "bf16" ? (x >>> 16) & 0xff7f : (x >>> 16) & 0xfbff;
      }
      const widened = new Float32Array(bits.length);
      (format === "bf16" ? bfloat16ToFloat32 : float16ToFloat32)(bits, widened);
      const expected = new Float32Array(bits.length);
      transposeInto(widened, rows, cols, expected);
      const out = new Float32Array(bits.length);
      assert.equal(widenTransposedInto(bits, format, rows, cols, out), true);
      assert.deepEqual(new Uint32Array(out.buffer), new Uint32Array(expected.buffer));
      // A NaN or an Infinity anywhere (first, last, either half of a word) is reported.
      for (const at of new Set([0, bits.length - 1, Math.floor(bits.length / 2), Math.floor(bits.length / 2) + 1].filter((k) => k < bits.length))) {
        for (const bad of format === "bf16" ? [0x7fc0, 0xff80] : [0x7e00, 0xfc00]) {
          const copy = bits.slice();
          copy[at] = bad;
          assert.equal(widenTransposedInto(copy, format, rows, cols, new Float32Array(bits.length)), false, `0x${bad.toString(16)} at ${at}`);
        }
      }
    });
  }
}

test("a BF16 linear weight holding a NaN is refused by name and position, as a float32 read would be", () => {
  const bits = new Uint16Array(6 * 4).fill(0x3f80); // 1.0
  bits[9] = 0x7fc0; // row 2, column 1 of [6, 4]
  const src: WeightSource = {
    origin: "memory",
    names: () => ["w"],
    has: (n) => n === "w",
    info: (n) => ({ name: n, dtype: "BF16", shape: [6, 4], file: "memory.safetensors" }),
    read: () => assert.fail("the 16-bit values are read, not a float32 copy"),
    readHalves: () => ({ format: "bf16", bits: bits.slice() }),
    close: () => undefined,
  };
  assert.throws(() => new WeightLoader(src, "test").linearFloat32("w", 4, 6), (e: Error) => e instanceof NonFiniteWeightError && /memory\.safetensors/.test(e.message) && /"w"/.test(e.message) && /9/.test(e.message));
});
