import assert from "node:assert/strict";
import { test } from "node:test";
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "../../src/io/half-float";
import { seeded } from "./helpers";

/** float16 value of a bit pattern, by the IEEE 754 definition. */
function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

test("float16 widening matches the IEEE definition for all 65,536 bit patterns", () => {
  const src = new Uint16Array(65536).map((_, i) => i);
  const out = new Float32Array(65536);
  float16ToFloat32(src, out);
  for (let h = 0; h < 65536; h++) {
    const want = f16Value(h);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(out[h]), `0x${h.toString(16)} should be NaN`);
    else assert.ok(Object.is(out[h], want), `0x${h.toString(16)}: ${out[h]} != ${want}`);
  }
});

test("float16 narrowing inverts widening for every non-NaN pattern and rounds ties to even", () => {
  for (let h = 0; h < 65536; h++) {
    const v = f16Value(h);
    if (Number.isNaN(v)) assert.equal(float32ToFloat16Bits(v) & 0x7c00, 0x7c00);
    else assert.equal(float32ToFloat16Bits(v), h, `pattern 0x${h.toString(16)}`);
  }
  // halfway between 1 and 1 + 2^-10 → even (1); halfway above 1 + 2^-10 → even (1 + 2^-9)
  assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00);
  assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(float32ToFloat16Bits(65520), 0x7c00); // rounds past the largest finite (65504) to infinity
  assert.equal(float32ToFloat16Bits(2 ** -25), 0); // exactly half the smallest subnormal: tie to even (0)
  assert.equal(float32ToFloat16Bits(1.5 * 2 ** -25), 1);
});

test("bfloat16 narrowing picks the nearest representable value (ties to even) and widening is exact", () => {
  const rand = seeded(7);
  const f32 = new Float32Array(1);
  const bits = new Uint32Array(f32.buffer);
  for (let i = 0; i < 20000; i++) {
    bits[0] = Math.floor(rand() * 2 ** 32);
    const x = f32[0];
    if (!Number.isFinite(x)) continue;
    const b = float32ToBfloat16Bits(x);
    const widened = new Float32Array(1);
    bfloat16ToFloat32(new Uint16Array([b]), widened);
    const down = bits[0] >>> 16;
    const candidates = [down, down + 1].map((c) => {
      const t = new Uint32Array([c << 16]);
      return new Float32Array(t.buffer)[0];
    });
    const errs = candidates.map((c) => Math.abs(c - x));
    const best = errs[0] < errs[1] || (errs[0] === errs[1] && (down & 1) === 0) ? candidates[0] : candidates[1];
    if (Number.isFinite(best)) assert.ok(Object.is(widened[0], best), `${x} → ${widened[0]}, nearest ${best}`);
  }
  assert.ok(Number.isNaN(new Float32Array(new Uint32Array([float32ToBfloat16Bits(NaN) << 16]).buffer)[0]));
});

test("widening writes at the requested offset and count only", () => {
  const out = new Float32Array(6).fill(-7);
  bfloat16ToFloat32(new Uint16Array([0x3f80, 0x4000]), out, 2, 2);
  assert.deepEqual([...out], [-7, -7, 1, 2, -7, -7]);
  float16ToFloat32(new Uint16Array([0x3c00, 0xc000]), out, 4, 1);
  assert.deepEqual([...out], [-7, -7, 1, 2, 1, -7]);
});
