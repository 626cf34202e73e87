// The 16-bit NaN/Infinity scan of io/safetensors-weights.ts tests two values per 32-bit word with a carry trick;
// it must find every non-finite pattern at its exact index (low or high half, aligned or not, odd lengths) and
// pass every finite one, including the largest finite values, whose exponent is one short of all ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { firstNonFiniteHalf } from "../../src/io/safetensors-weights";

const FORMATS = { bf16: { mask: 0x7f80, maxFinite: 0x7f7f, inf: 0x7f80, nan: 0x7fc1 }, f16: { mask: 0x7c00, maxFinite: 0x7bff, inf: 0x7c00, nan: 0x7e01 } };

for (const [name, f] of Object.entries(FORMATS)) {
  test(`${name}: firstNonFiniteHalf finds each NaN/±Inf at its index and passes every finite pattern`, () => {
    // Every finite pattern, both signs: none is reported.
    const finite: number[] = [];
    for (let b = 0; b < 0x10000; b++) if ((b & f.mask) !== f.mask) finite.push(b);
    assert.equal(firstNonFiniteHalf(new Uint16Array(finite), f.mask), -1);
    assert.equal(firstNonFiniteHalf(new Uint16Array([f.maxFinite, f.maxFinite | 0x8000, f.maxFinite]), f.mask), -1);
    for (const bad of [f.inf, f.inf | 0x8000, f.nan, f.nan | 0x8000]) {
      for (const length of [1, 2, 7, 8]) {
        for (let at = 0; at < length; at++) {
          const buffer = new Uint16Array(length + 1).fill(f.maxFinite);
          buffer[at] = bad;
          assert.equal(firstNonFiniteHalf(buffer.subarray(0, length), f.mask), at, `aligned, length ${length}`);
          const shifted = new Uint16Array(length + 1).fill(0x3c00);
          shifted[at + 1] = bad;
          assert.equal(firstNonFiniteHalf(shifted.subarray(1), f.mask), at, `unaligned, length ${length}`);
        }
      }
    }
  });
}
