// RoPE: inverse frequencies of each scaling variant against the formulas (in float64 here), and the rotation
// itself against an explicit per-pair computation, for the "half" and "interleaved" layouts and partial rotary.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import type { RopeParameters } from "../../src/io/config";
import { applyRotary, rotaryFromParameters, rotaryTables } from "../../src/model/components/rotary";
import { useBackend } from "./engine-helpers";

before(useBackend);

const base: RopeParameters = {
  ropeType: "default", theta: 10000, partialRotaryFactor: 1, factor: null, lowFreqFactor: null, highFreqFactor: null, originalMaxPositions: null,
  attentionFactor: null, betaFast: null, betaSlow: null, mscale: null, mscaleAllDim: null, truncate: true, shortFactor: null, longFactor: null,
};
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);

test("default and linear inverse frequencies", () => {
  const r = rotaryFromParameters(base, 16, 128);
  assert.equal(r.invFreq.length, 8);
  r.invFreq.forEach((v, i) => assert.ok(close(v, 1 / 10000 ** ((2 * i) / 16))));
  const lin = rotaryFromParameters({ ...base, ropeType: "linear", factor: 4 }, 16, 128);
  lin.invFreq.forEach((v, i) => assert.ok(close(v, 1 / 10000 ** ((2 * i) / 16) / 4)));
});

test("llama3: high frequencies kept, low ones divided by factor, the middle band interpolated", () => {
  const p = { ...base, ropeType: "llama3" as const, theta: 500000, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 };
  const r = rotaryFromParameters(p, 16, 128);
  const kinds = new Set<string>();
  r.invFreq.forEach((v, i) => {
    const inv = 1 / 500000 ** ((2 * i) / 16);
    const wavelen = (2 * Math.PI) / inv;
    let expected: number;
    if (wavelen < 64 / 4) { expected = inv; kinds.add("high"); }
    else if (wavelen > 64 / 1) { expected = inv / 8; kinds.add("low"); }
    else {
      const s = (64 / wavelen - 1) / (4 - 1);
      expected = ((1 - s) * inv) / 8 + s * inv;
      kinds.add("mid");
    }
    assert.ok(close(v, expected), `i=${i}: ${v} vs ${expected}`);
  });
  assert.deepEqual([...kinds].sort(), ["high", "low", "mid"]);
});

test("yarn: attention factor 0.1·ln(factor)+1 and frequencies between interpolation and extrapolation", () => {
  const r = rotaryFromParameters({ ...base, ropeType: "yarn", factor: 4, originalMaxPositions: 32 }, 16, 128);
  assert.ok(close(r.attentionScaling, 0.1 * Math.log(4) + 1));
  r.invFreq.forEach((v, i) => {
    const inv = 1 / 10000 ** ((2 * i) / 16);
    assert.ok(v <= inv * (1 + 1e-6) && v >= (inv / 4) * (1 - 1e-6));
  });
  assert.ok(close(r.invFreq[0], 1), "the fastest frequency extrapolates");
  assert.ok(close(r.invFreq[7], 1 / 10000 ** (14 / 16) / 4), "the slowest interpolates");
});

test("dynamic NTK changes frequencies only past the context; partial rotary rotates a prefix", async () => {
  const r = rotaryFromParameters({ ...base, ropeType: "dynamic", factor: 2 }, 16, 64);
  assert.deepEqual(r.invFreqFor!(64).invFreq, r.invFreq);
  assert.ok(r.invFreqFor!(128).invFreq[1] < r.invFreq[1]);
  const partial = rotaryFromParameters({ ...base, partialRotaryFactor: 0.25 }, 16, 64);
  assert.equal(partial.rotaryDim, 4);
  const x = tf.randomNormal([1, 3, 2, 16], 0, 1, "float32", 3) as tf.Tensor4D;
  const tables = rotaryTables(partial, [[0, 1, 2]], 3);
  const y = applyRotary(x, tables, partial);
  const xd = await x.data();
  const yd = await y.data();
  for (let t = 0; t < 3; t++) {
    for (let h = 0; h < 2; h++) {
      const o = (t * 2 + h) * 16;
      for (let j = 4; j < 16; j++) assert.equal(yd[o + j], xd[o + j], "unrotated tail passes through");
      for (let i = 0; i < 2; i++) {
        const angle = t * partial.invFreq[i];
        const [a, b] = [xd[o + i], xd[o + i + 2]];
        assert.ok(Math.abs(yd[o + i] - (a * Math.cos(angle) - b * Math.sin(angle))) < 1e-5);
        assert.ok(Math.abs(yd[o + i + 2] - (b * Math.cos(angle) + a * Math.sin(angle))) < 1e-5);
      }
    }
  }
  const inter = { ...partial, style: "interleaved" as const };
  const interTables = rotaryTables(inter, [[0, 1, 2]], 3);
  const z = await applyRotary(x, interTables, inter).data();
  const angle = 2 * partial.invFreq[1];
  const o = (2 * 2 + 1) * 16;
  assert.ok(Math.abs(z[o + 2] - (xd[o + 2] * Math.cos(angle) - xd[o + 3] * Math.sin(angle))) < 1e-5);
  tf.dispose([x, tables.cos, tables.sin, interTables.cos, interTables.sin, y]);
});

test("cos/sin tables: any position (left padding, past the cached length) rotates by position · inv_freq", async () => {
  const r = rotaryFromParameters({ ...base, ropeType: "yarn", factor: 4, originalMaxPositions: 32 }, 16, 1024);
  // Row 0 is left-padded (positions 0, 0, 1); row 1 reaches far past the first cached table length.
  const positions = [[0, 0, 1], [5, 300, 1000]];
  const tables = rotaryTables(r, positions, 1001);
  const cos = await tables.cos.data();
  const sin = await tables.sin.data();
  tf.dispose([tables.cos, tables.sin]);
  const half = 8;
  positions.forEach((row, b) =>
    row.forEach((p, t) => {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * r.invFreq[i]);
        const o = (b * 3 + t) * 16;
        const c = Math.cos(angle) * r.attentionScaling;
        const s = Math.sin(angle) * r.attentionScaling;
        // Both halves carry cos; sin carries rotate_half's sign on the first half.
        for (const [got, want] of [[cos[o + i], c], [cos[o + half + i], c], [sin[o + i], -s], [sin[o + half + i], s]]) {
          assert.ok(Math.abs(got - want) <= 1e-6, `b${b} t${t} i${i}: ${got} vs ${want}`);
        }
      }
    }),
  );
});
