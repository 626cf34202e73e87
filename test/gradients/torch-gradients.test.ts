// The gradient cache against PyTorch autograd on the fixtures that carry gradients.safetensors (written by
// scripts/fixtures/make_fixture.py --gradients-only; hook points, pairing and tolerance: torch-reference.ts).
// COMMITTED lists the fixtures whose file is in the repository (written with transformers 5.17 / torch 2.11): each
// must be there, and every file git tracks must be on disk. PENDING ones (GPT-2, GPT-NeoX, which the script laid
// out only after those files were written) are skipped by name until their file exists, then compared like the
// rest. A self-check runs regardless: a gradients file of float64 central differences of lmprobe's own weights,
// for the tiny GPT-2 fixture copied into a temporary directory, goes through the same reader and comparison, and
// wrong pairings (another hook, another layer) must fail it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModel } from "../../src/load";
import { writeSafetensors } from "../../src/io/safetensors-writer";
import { gradientCache } from "../../src/model/gradients";
import { logitDiffMetric } from "../../src/probe/gradient-metrics";
import { Float64Model } from "./float64-forward";
import { compareWithTorch, fixturesWithGradients, GRADIENTS_FILE, HOOKS, lmprobeGradients, readTorchGradients, referenceIds, relativeError, RELATIVE_TOLERANCE, type GradientTensor } from "./torch-reference";

const FIXTURES = path.resolve(__dirname, "../fixtures");
const COMMITTED = ["generated/llama-yarn-tied", "generated/gemma3_text", "generated/phi3", "generated/olmo2", "tiny/qwen2", "tiny/gemma2", "tiny/gpt2", "tiny/gpt_neox"];
const PENDING: string[] = [];
const EXPECTED = [...COMMITTED, ...PENDING];
const BACKEND = process.env.LMPROBE_BACKEND ?? "wasm";
const dirOf = (name: string) => path.join(FIXTURES, name);
const HOW = (name: string) => {
  const [root, only] = name.split("/");
  return `python3 scripts/fixtures/make_fixture.py --out test/fixtures/${root} --only ${only} --gradients-only`;
};

const present = fixturesWithGradients(EXPECTED.map(dirOf)).map((d) => path.relative(FIXTURES, d));
const compared: string[] = [];

test("PyTorch gradient files: every committed one is on disk, and so is every file git tracks", (t) => {
  let tracked: string[] = [];
  try {
    tracked = execFileSync("git", ["ls-files", "--", `*/${GRADIENTS_FILE}`], { cwd: FIXTURES, encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    t.diagnostic("not a git checkout: tracked gradient files not checked");
  }
  const lost = tracked.filter((f) => !fs.existsSync(path.join(FIXTURES, f)));
  assert.deepEqual(lost, [], `git tracks these gradient files but they are not on disk`);
  const missing = COMMITTED.filter((n) => !present.includes(n));
  assert.deepEqual(missing, [], `${GRADIENTS_FILE} is missing for these fixtures; regenerate: ${missing.map(HOW).join("; ")}`);
  const untested = tracked.map((f) => path.dirname(f)).filter((d) => !EXPECTED.includes(d));
  assert.deepEqual(untested, [], "gradient files no test compares: add their fixtures to COMMITTED");
});

for (const name of EXPECTED) {
  const skip = present.includes(name) ? false : `no ${GRADIENTS_FILE} in test/fixtures/${name} yet (generate with torch: ${HOW(name)})`;
  test(`gradient cache equals PyTorch autograd at resid_pre, attn_out, mlp_out: ${name}`, { skip }, async (t) => {
    const r = await compareWithTorch(dirOf(name), BACKEND);
    const metricError = Math.abs(r.value - r.ref.metric);
    assert.ok(metricError <= 1e-4 * Math.max(1, Math.abs(r.ref.metric)), `metric logit ${r.ref.tokens[0]} − logit ${r.ref.tokens[1]}: lmprobe ${r.value}, torch ${r.ref.metric}`);
    for (const c of r.comparisons) {
      assert.ok(c.error <= RELATIVE_TOLERANCE, `${name} ${c.hook}: max |Δ| is ${c.error.toExponential(2)} of max |g| = ${c.scale.toExponential(2)} (tolerance ${RELATIVE_TOLERANCE})`);
    }
    const worst = r.comparisons.reduce((a, b) => (b.error > a.error ? b : a));
    t.diagnostic(`${BACKEND}, ${r.pairing}: ${r.comparisons.length} layer gradients, worst ${worst.error.toExponential(2)} of the scale at ${worst.hook}; metric ${r.ref.metric.toFixed(5)} (Δ ${metricError.toExponential(1)})`);
    compared.push(name);
  });
}

test("the fixtures compared with PyTorch autograd", (t) => {
  const line = `compared: ${compared.length ? compared.join(", ") : "none"}; without ${GRADIENTS_FILE}: ${EXPECTED.filter((n) => !present.includes(n)).join(", ") || "none"}`;
  t.diagnostic(line);
  console.log(`ℹ PyTorch gradient comparison — ${line}`);
  assert.deepEqual(compared.sort(), [...present].sort(), "every fixture with a gradients file was compared and passed");
});

/** A gradients file as make_fixture.py writes it, for `ids` of the model in `dir`, from float64 central differences. */
async function writeFiniteDifferenceGradients(dir: string, ids: number[]): Promise<void> {
  const model = await loadModel(dir, { backend: BACKEND as "wasm" | "cpu" });
  try {
    const ref = new Float64Model(model.weights);
    const V = model.weights.vocabSize;
    const T = ids.length;
    const d = model.weights.dModel;
    const L = model.nLayers;
    const last = (logits: Float64Array) => logits.subarray((T - 1) * V, T * V);
    const clean = last(ref.forward(ids, new Map(), true));
    const order = Array.from(clean.keys()).sort((x, y) => clean[y] - clean[x]);
    const [a, b] = order;
    const metric = (logits: Float64Array) => logits[(T - 1) * V + a] - logits[(T - 1) * V + b];
    const h = 1e-4;
    const tensors: Record<string, { dtype: "F32" | "I64"; shape: number[]; data: Float32Array | number[] }> = {};
    for (const [tensor, hook] of Object.entries(HOOKS) as [GradientTensor, string][]) {
      const out = new Float32Array(L * T * d);
      for (let l = 0; l < L; l++) {
        const name = `blocks.${l}.hook_${hook}`;
        const delta = new Float64Array(T * d);
        for (let i = 0; i < T * d; i++) {
          delta[i] = h;
          const plus = metric(ref.forward(ids, new Map([[name, delta]]), true));
          delta[i] = -h;
          const minus = metric(ref.forward(ids, new Map([[name, delta]]), true));
          delta[i] = 0;
          out[l * T * d + i] = (plus - minus) / (2 * h);
        }
      }
      tensors[tensor] = { dtype: "F32", shape: [L, T, d], data: out };
    }
    tensors.grad_input_ids = { dtype: "I64", shape: [T], data: ids };
    tensors.grad_tokens = { dtype: "I64", shape: [2], data: [a, b] };
    tensors.grad_metric = { dtype: "F32", shape: [1], data: Float32Array.of(clean[a] - clean[b]) };
    writeSafetensors(path.join(dir, GRADIENTS_FILE), tensors, { source: "lmprobe float64 central differences (test self-check)", branch_point: "added to the residual stream" });
  } finally {
    model.dispose();
  }
}

function copyFixture(name: string): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-torch-grad-"));
  for (const f of fs.readdirSync(dirOf(name))) if (f !== GRADIENTS_FILE) fs.copyFileSync(path.join(dirOf(name), f), path.join(tmp, f));
  return tmp;
}

test("self-check: a float64 finite-difference gradients file of the tiny GPT-2 fixture passes the comparison; wrong pairings fail it", async (t) => {
  const tmp = copyFixture("tiny/gpt2");
  try {
    // Three tokens of the fixture's prompt: 2 × 3 × 3 × 64 central differences (the whole file, not a sample).
    const ids = referenceIds(tmp).slice(0, 3);
    await writeFiniteDifferenceGradients(tmp, ids);
    const r = await compareWithTorch(tmp, BACKEND);
    assert.deepEqual(r.ref.ids, ids, "the file's grad_input_ids are read back");
    assert.ok(Math.abs(r.value - r.ref.metric) <= 1e-4 * Math.max(1, Math.abs(r.ref.metric)), `metric: ${r.value} against ${r.ref.metric}`);
    for (const c of r.comparisons) assert.ok(c.error <= RELATIVE_TOLERANCE, `${c.hook}: ${c.error.toExponential(2)} of the scale`);
    const worst = Math.max(...r.comparisons.map((c) => c.error));
    t.diagnostic(`${BACKEND}: worst ${worst.toExponential(2)} of the scale over ${r.comparisons.length} layer gradients`);

    // Wrong pairings the tolerance must reject: another hook of the same layer, the same hook of another layer.
    const mine = await lmprobeGradients(tmp, r.ref, BACKEND);
    const controls: [string, Float32Array, Float32Array][] = [
      ["lmprobe resid_pre 1 vs reference attn_out 1", mine.grads.grad_resid_pre[1], r.ref.grads.grad_attn_out[1]],
      ["lmprobe attn_out 0 vs reference mlp_out 0", mine.grads.grad_attn_out[0], r.ref.grads.grad_mlp_out[0]],
      ["lmprobe mlp_out 0 vs reference mlp_out 1", mine.grads.grad_mlp_out[0], r.ref.grads.grad_mlp_out[1]],
    ];
    for (const [what, a, b] of controls) {
      const e = relativeError(a, b).error;
      assert.ok(e > 100 * RELATIVE_TOLERANCE, `${what}: relative error ${e.toExponential(2)} should be far above the tolerance`);
      t.diagnostic(`control ${what}: ${e.toExponential(2)}`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});


test("an old Gemma 2 file's attention/MLP gradients (before the post-norm) differ from lmprobe's hook_attn_out/hook_mlp_out: the pairing through W_O/W_out is needed", { skip: present.includes("tiny/gemma2") ? false : "no tiny/gemma2 gradients file" }, async (t) => {
  const dir = dirOf("tiny/gemma2");
  const ref = readTorchGradients(dir);
  if (ref.metadata.branch_point === "added to the residual stream") return t.skip("the file is after the post-norms already");
  const m = await loadModel(dir, { backend: BACKEND as "wasm" | "cpu" });
  try {
    const g = await gradientCache(m, [ref.ids], { metric: logitDiffMetric(m, ref.tokens[0], ref.tokens[1]), names: ["attn_out", "mlp_out"], cache: [], lastPositionOnly: true });
    try {
      for (let l = 0; l < ref.layers; l++) {
        for (const [tensor, hook] of [["grad_attn_out", "attn_out"], ["grad_mlp_out", "mlp_out"]] as const) {
          const e = relativeError(await g.gradients.get(hook, l).data(), ref.grads[tensor][l]).error;
          assert.ok(e > 100 * RELATIVE_TOLERANCE, `${hook} ${l}: ${e.toExponential(2)}`);
          t.diagnostic(`hook_${hook} ${l} against the gradient before the post-norm: ${e.toExponential(2)} of the scale`);
        }
      }
    } finally {
      g.dispose();
    }
  } finally {
    m.dispose();
  }
});
