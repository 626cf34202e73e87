import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { clampedSwiglu, dispatchExperts, expertForward, type ExpertGlu, type ExpertWeights } from "../../src/model/components/moe-experts";
import { routeTokens } from "../../src/model/components/moe-router";
import { assertClose, input, onEachBackend, randomMatrix } from "../tensor/reference";

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

test("clamped SwiGLU: gate clamped above only, up clamped both sides, (up + 1) term", async () => {
  await onEachBackend(() => {
    const gate = [-10, 0, 1, 10];
    const up = [-10, 0.5, 2, 10];
    const got = tf.tidy(() => clampedSwiglu(tf.tensor1d(gate), tf.tensor1d(up), 1.702, 7).arraySync() as number[]);
    const expected = [
      (-7 + 1) * (-10 * sigmoid(-17.02)), // gate −10 is not clamped; up −10 → −7
      0,
      (2 + 1) * (1 * sigmoid(1.702)),
      (7 + 1) * (7 * sigmoid(7 * 1.702)), // both clamped to 7
    ];
    assertClose(got, expected, 1e-6, 1e-6, "clamped swiglu");
    assert.ok(Math.abs(got[3] - 56) < 1e-3, "gate and up of 10 saturate at (7 + 1) · 7");
  });
});

// Float64 reference of one expert: W [in][out] matrices, row vector x.
function matVec(x: number[], w: number[][]): number[] {
  return w[0].map((_, j) => x.reduce((s, xi, i) => s + xi * w[i][j], 0));
}

interface Expert64 { gate: number[][]; up: number[][]; down: number[][]; bGate: number[]; bUp: number[]; bDown: number[] }

function expert64(x: number[], e: Expert64, glu: ExpertGlu): number[] {
  const g = matVec(x, e.gate).map((v, i) => v + e.bGate[i]);
  const u = matVec(x, e.up).map((v, i) => v + e.bUp[i]);
  const h = g.map((gv, i) => {
    if (glu.kind === "gated") return gv * sigmoid(gv) * u[i]; // silu
    const gc = Math.min(gv, glu.limit);
    const uc = Math.min(Math.max(u[i], -glu.limit), glu.limit);
    return (uc + 1) * gc * sigmoid(glu.alpha * gc);
  });
  return matVec(h, e.down).map((v, i) => v + e.bDown[i]);
}

const D = 8;
const I = 6;
const E = 4;
const N = 5;

function makeExperts64(): Expert64[] {
  return Array.from({ length: E }, (_, e) => ({
    gate: randomMatrix(D, I, 10 + e, 1.5),
    up: randomMatrix(D, I, 20 + e, 1.5),
    down: randomMatrix(I, D, 30 + e, 0.5),
    bGate: randomMatrix(1, I, 40 + e, 0.3)[0],
    bUp: randomMatrix(1, I, 50 + e, 0.3)[0],
    bDown: randomMatrix(1, D, 60 + e, 0.3)[0],
  }));
}

function toTensors(e: Expert64): ExpertWeights {
  return {
    W_gate: input(tf.tensor2d(e.gate)),
    b_gate: input(tf.tensor1d(e.bGate)),
    W_in: input(tf.tensor2d(e.up)),
    b_in: input(tf.tensor1d(e.bUp)),
    W_out: input(tf.tensor2d(e.down)),
    b_out: input(tf.tensor1d(e.bDown)),
  };
}

for (const glu of [{ kind: "gated", act: "silu" }, { kind: "clamped-swiglu", alpha: 1.702, limit: 2 }] as ExpertGlu[]) {
  test(`gather and dense dispatch both give Σ weight · expert(x) over the chosen experts (${glu.kind})`, async () => {
    await onEachBackend(() => {
      const experts64 = makeExperts64();
      const experts = experts64.map(toTensors);
      const x64 = randomMatrix(N, D, 3, 1);
      const logits64 = randomMatrix(N, E, 4, 2);
      const x = input(tf.tensor2d(x64));
      const routing = routeTokens(input(tf.tensor2d(logits64)), { order: "topk-softmax", topK: 2, renormalize: false });
      input(routing.indices);
      input(routing.weights);
      const ids = routing.indices.arraySync();
      const w = routing.weights.arraySync();
      const expected = x64.flatMap((row, n) => {
        const acc = new Array(D).fill(0);
        ids[n].forEach((e, slot) => expert64(row, experts64[e], glu).forEach((v, j) => (acc[j] += w[n][slot] * v)));
        return acc;
      });
      for (const dispatch of ["gather", "dense"] as const) {
        const out = dispatchExperts(x, routing, experts, glu, dispatch);
        assertClose(out.dataSync(), expected, 1e-5, 1e-5, `${dispatch} dispatch`);
        out.dispose();
      }
      // One expert alone, as a check on the float64 reference itself.
      const single = expertForward(x, experts[1], glu);
      assertClose(single.dataSync(), x64.flatMap((row) => expert64(row, experts64[1], glu)), 1e-5, 1e-5, "expert 1");
      single.dispose();
    });
  });
}

test("the clamp changes gpt-oss's expert output when projections exceed the limit", async () => {
  await onEachBackend(() => {
    const e = makeExperts64()[0];
    const x = input(tf.tensor2d(randomMatrix(N, D, 5, 3)));
    const loose = expertForward(x, toTensors(e), { kind: "clamped-swiglu", alpha: 1.702, limit: 1e9 });
    const tight = expertForward(x, toTensors(e), { kind: "clamped-swiglu", alpha: 1.702, limit: 1 });
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(loose, tight))).dataSync()[0]);
    assert.ok(diff > 0.1, `clamping to 1 should change the output (max diff ${diff})`);
    tf.dispose([loose, tight]);
  });
});

test("gather dispatch refuses expert ids outside the expert list (a hook returned bad ids)", async () => {
  await onEachBackend(() => {
    const experts = makeExperts64().map(toTensors);
    const x = input(tf.tensor2d(randomMatrix(2, D, 6, 1)));
    const routing = { indices: input(tf.tensor2d([[0, 7], [1, 2]], [2, 2], "int32")), weights: input(tf.tensor2d([[0.5, 0.5], [0.5, 0.5]])) };
    assert.throws(() => dispatchExperts(x, routing, experts, { kind: "gated", act: "silu" }, "gather"), /expert id 7 for token 0/);
  });
});
