// webgpu's one-dispatch attention (FlashAttentionProgram through fusedAttention): against attention in float64 over
// the shapes the models give it (one query head per key/value head and groups of them, heads of 64 and 128, a
// softcap, lengths that fill neither a workgroup of rows nor a tile of keys, a batch, a left-padded prompt with
// wholly masked rows, keys laid out by position or by head, a causal mask with the tiles after the diagonal left
// out); and in a model: the demo's logits with it and with the three-dispatch path, and the dispatches counted.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { FLASH_MAX_KEYS, flashByDefault, fusedAttention } from "../../src/backend/kernels/fused";
import { flashAttentionFits, flashKeyGroupsFit, flashKeyTile } from "../../src/backend/kernels/flash-attention";
import { flashBlockedFits, flashBlockedWorkgroupBytes, flashKeyBlock } from "../../src/backend/kernels/flash-attention-blocked";
import { MASKED } from "../../src/model/components/masks";
import { LmprobeError } from "../../src/errors";
import { assertWithinLargest, countDispatches, saveEnv, webgpuOrSkip } from "./webgpu-helpers";
import { rng } from "../tensor/reference";

interface Case {
  what: string;
  batch: number;
  pos: number;
  heads: number;
  kvHeads: number;
  dHead: number;
  softcap: number | null;
  /** Leading pad positions per batch row (their keys masked for every query; their own query rows wholly masked). */
  pad?: number[];
  layout: "positions" | "heads";
  causal: boolean;
  /** A mask per head (ALiBi's: the causal mask plus −slope_h · distance). */
  perHead?: boolean;
  /** The kernel variants to run, where they fit; all by default. */
  groups?: readonly ("1" | "2" | "4" | "blocks")[];
}

/** softmax(softcap(q·kᵀ · scale) + mask) · v in float64, q [b, pos, heads, d], k / v [b, pos, kvHeads, d]. */
function attention64(c: Case, q: Float32Array, k: Float32Array, v: Float32Array, mask: Float32Array, scale: number): Float64Array {
  const { batch, pos, heads, kvHeads, dHead: d } = c;
  const group = heads / kvHeads;
  const maskHeads = c.perHead ? heads : 1;
  const z = new Float64Array(batch * pos * heads * d);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      for (let i = 0; i < pos; i++) {
        const s = new Float64Array(pos);
        for (let j = 0; j < pos; j++) {
          let dot = 0;
          for (let x = 0; x < d; x++) dot += q[((b * pos + i) * heads + h) * d + x] * k[((b * pos + j) * kvHeads + g) * d + x];
          let e = dot * scale;
          if (c.softcap !== null) e = Math.tanh(e / c.softcap) * c.softcap;
          s[j] = e + mask[((b * maskHeads + (h % maskHeads)) * pos + i) * pos + j];
        }
        const m = Math.max(...s);
        const p = s.map((e) => Math.exp(e - m));
        const total = p.reduce((a, e) => a + e, 0);
        for (let x = 0; x < d; x++) {
          let acc = 0;
          for (let j = 0; j < pos; j++) acc += p[j] * v[((b * pos + j) * kvHeads + g) * d + x];
          z[((b * pos + i) * heads + h) * d + x] = acc / total;
        }
      }
    }
  }
  return z;
}

/** The additive causal mask with `pad` leading positions masked as keys and, as queries, wholly masked. */
function causalMask(batch: number, pos: number, pad: number[]): Float32Array {
  const mask = new Float32Array(batch * pos * pos);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < pos; i++) {
      for (let j = 0; j < pos; j++) {
        const visible = j <= i && j >= (pad[b] ?? 0) && i >= (pad[b] ?? 0);
        mask[(b * pos + i) * pos + j] = visible ? 0 : MASKED;
      }
    }
  }
  return mask;
}

const CASES: Case[] = [
  { what: "GPT-2's 64-wide heads, one per kv head, causal skip", batch: 1, pos: 150, heads: 3, kvHeads: 3, dHead: 64, softcap: null, layout: "positions", causal: true },
  { what: "grouped heads (Qwen's 7 per kv head), no skip", batch: 1, pos: 70, heads: 7, kvHeads: 1, dHead: 64, softcap: null, layout: "positions", causal: false },
  // Only the default variant at 128 wide: the software adapter's compiler takes ~20–35 s for each 128-wide flash
  // kernel, and one, two and four threads per row are the same code at the other widths.
  { what: "128-wide heads (Llama's), groups of 2, causal skip", batch: 1, pos: 97, heads: 4, kvHeads: 2, dHead: 128, softcap: null, layout: "positions", causal: true, groups: ["4"] },
  { what: "a softcap (Gemma 2's), keys head-major", batch: 1, pos: 40, heads: 2, kvHeads: 1, dHead: 32, softcap: 50, layout: "heads", causal: false },
  { what: "a batch of two, the second left-padded (wholly masked rows)", batch: 2, pos: 67, heads: 2, kvHeads: 2, dHead: 32, softcap: null, pad: [0, 5], layout: "positions", causal: false },
  { what: "ALiBi's mask per head, causal skip", batch: 1, pos: 80, heads: 3, kvHeads: 3, dHead: 16, softcap: null, layout: "positions", causal: true, perHead: true },
  { what: "one position", batch: 1, pos: 1, heads: 2, kvHeads: 1, dHead: 8, softcap: null, layout: "positions", causal: true },
];

test("the key tile and the head widths the flash kernel takes", () => {
  assert.equal(flashKeyTile(64, 64), 32);
  assert.equal(flashKeyTile(128, 128), 16);
  assert.ok(flashAttentionFits(64, 64) && flashAttentionFits(128, 128) && flashAttentionFits(8, 8));
  assert.ok(!flashAttentionFits(256, 256), "Gemma's 256-wide heads take the three-dispatch path");
  assert.ok(!flashAttentionFits(66, 66), "a width of whole vec4s only");
  // Four threads per row: four keys each of a 16-key tile at 128 wide, of a 32-key tile at 64.
  assert.ok(flashKeyGroupsFit(128, 128, 4) && flashKeyGroupsFit(64, 64, 4) && flashKeyGroupsFit(16, 16, 4));
  assert.ok(!flashKeyGroupsFit(4, 4, 4), "too narrow to pass the merge through the tiles");
});

test("the blocked kernel's key tiles: 32 keys where the workgroup memory takes them, 16 where it takes only those", () => {
  assert.equal(flashKeyBlock(64, 49152), 32, "an H100's 48 KB");
  assert.equal(flashKeyBlock(64, 32768), 16, "a software adapter's 32 KB");
  assert.equal(flashKeyBlock(32, 32768), 32);
  assert.equal(flashKeyBlock(64, 16384), null, "WebGPU's guaranteed 16 KB: the row kernel");
  assert.equal(flashKeyBlock(128, 1 << 20), null, "128-wide heads: the row kernel");
  assert.ok(flashBlockedWorkgroupBytes(64, 32) <= 49152 && flashBlockedWorkgroupBytes(64, 16) <= 32768);
});

test("webgpu's flash attention equals float64 attention: groups, widths, softcap, batch, padding, layouts, causal skip", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const r = rng(11);
  for (const c of CASES) {
    const { batch, pos, heads, kvHeads, dHead } = c;
    const draw = (n: number) => Float32Array.from({ length: n }, () => (r() - 0.5) * 4);
    const q = draw(batch * pos * heads * dHead);
    const k = draw(batch * pos * kvHeads * dHead);
    const v = draw(batch * pos * kvHeads * dHead);
    const shared = causalMask(batch, pos, c.pad ?? []);
    const maskHeads = c.perHead ? heads : 1;
    const mask = new Float32Array(batch * maskHeads * pos * pos);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < maskHeads; h++) {
        for (let i = 0; i < pos; i++) {
          for (let j = 0; j < pos; j++) {
            const alibi = c.perHead ? -(h + 1) * 0.25 * (i - j) : 0;
            mask[((b * maskHeads + h) * pos + i) * pos + j] = shared[(b * pos + i) * pos + j] + alibi;
          }
        }
      }
    }
    const scale = 1 / Math.sqrt(dHead);
    const want = attention64(c, q, k, v, mask, scale);
    const headMajor = (x: Float32Array) => tf.tidy(() => tf.transpose(tf.tensor4d(x, [batch, pos, kvHeads, dHead]), [0, 2, 1, 3]));
    const qt = tf.tensor4d(q, [batch, pos, heads, dHead]);
    const [kt, vt] = c.layout === "positions" ? [tf.tensor4d(k, [batch, pos, kvHeads, dHead]), tf.tensor4d(v, [batch, pos, kvHeads, dHead])] : [headMajor(k), headMajor(v)];
    const mt = tf.tensor4d(mask, [batch, maskHeads, pos, pos]);
    // One, two and four threads per query row (the last merging partial softmaxes), and the blocked kernel (heads of
    // 32 or 64; on the software adapter's 32 KB of workgroup memory, tiles of 32 keys at 32 wide and 16 at 64).
    for (const groups of c.groups ?? (["1", "2", "4", "blocks"] as const)) {
      if (groups === "blocks" ? !flashBlockedFits(dHead) : !flashKeyGroupsFit(dHead, dHead, Number(groups) as 1 | 2 | 4)) continue;
      const dispatches = countDispatches((key) => key.startsWith("lmprobeFlashBlocked"));
      process.env.LMPROBE_WEBGPU_FLASH = groups;
      const z = fusedAttention(qt, kt as tf.Tensor4D, vt as tf.Tensor4D, mt, scale, c.softcap, c.layout, c.causal);
      dispatches.stop();
      assert.ok(z, `${c.what}: the kernel takes it`);
      assert.equal(dispatches.count(), groups === "blocks" ? 1 : 0, `${c.what}, ${groups}: the blocked kernel ran`);
      assert.deepEqual(z.shape, [batch, pos, heads, dHead]);
      const got = (await z.data()) as Float32Array;
      z.dispose();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      assert.ok(worst < 2e-5, `${c.what}, ${groups} per row: max |flash − float64| = ${worst}`);
    }
    tf.dispose([qt, kt, vt, mt]);
  }
  delete process.env.LMPROBE_WEBGPU_FLASH;
});

test("by default the flash kernel takes up to 256 keys, or scores past the device's storage binding", () => {
  const gib = 2 ** 30;
  assert.ok(flashByDefault(256, 4 * 12 * 256 * 256, 2 * gib));
  assert.ok(!flashByDefault(1024, 4 * 12 * 1024 * 1024, 2 * gib), "GPT-2-small at 1024: 48 MB of scores, the three dispatches");
  assert.ok(flashByDefault(8192, 4 * 12 * 8192 * 8192, 2 * gib), "GPT-2-small at 8192: 3.2 GB of scores, past a 2 GiB binding");
  assert.ok(!flashByDefault(8192, 4 * 12 * 8192 * 8192, 4 * gib), "the same on a device that binds 4 GiB");
});

test("on webgpu by default the flash kernel takes up to 256 keys; on takes any length, off none", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const restore = saveEnv("LMPROBE_WEBGPU_FLASH");
  const taken = (pos: number, setting: string | undefined) => {
    if (setting === undefined) delete process.env.LMPROBE_WEBGPU_FLASH;
    else process.env.LMPROBE_WEBGPU_FLASH = setting;
    return tf.tidy(() => {
      const x = tf.ones([1, pos, 2, 16]) as tf.Tensor4D;
      const mask = tf.zeros([1, 1, pos, pos]) as tf.Tensor4D;
      return fusedAttention(x, x, x, mask, 0.25, null, "positions", false) !== null;
    });
  };
  try {
    assert.ok(taken(FLASH_MAX_KEYS, undefined) && taken(FLASH_MAX_KEYS, "auto"));
    assert.ok(!taken(FLASH_MAX_KEYS + 1, undefined), "past 256 keys: the three dispatches");
    assert.ok(taken(FLASH_MAX_KEYS + 1, "on") && taken(FLASH_MAX_KEYS + 1, "4"));
    assert.ok(!taken(16, "off"));
    assert.throws(() => taken(16, "fast"), (err: unknown) => err instanceof LmprobeError && /LMPROBE_WEBGPU_FLASH/.test((err as Error).message));
  } finally {
    restore();
  }
});

test("the demo model on webgpu: one attention dispatch per layer with the flash kernel, the three-dispatch path's logits", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const { loadModel } = await import("../../src/load");
  const flash = countDispatches((key) => key.startsWith("lmprobeFlashAttention"));
  const softmax = countDispatches((key) => key.startsWith("lmprobeScoresSoftmax"));
  const restore = saveEnv("LMPROBE_WEBGPU_FLASH");
  const model = await loadModel("demo", { backend: "webgpu" });
  try {
    const ids = Array.from({ length: 90 }, (_, i) => 1 + ((i * 53) % (model.config.vocabSize - 1)));
    const logits = async (value: string) => {
      process.env.LMPROBE_WEBGPU_FLASH = value;
      const before = { flash: flash.count(), softmax: softmax.count() };
      const r = model.run([ids]);
      const values = (await r.logits.data()) as Float32Array;
      r.dispose();
      return { values, flash: flash.count() - before.flash, softmax: softmax.count() - before.softmax };
    };
    const on = await logits("on");
    const off = await logits("off");
    assert.equal(on.flash, model.nLayers, "one flash dispatch per layer");
    assert.equal(on.softmax, 0, "no softmax pass with the flash kernel");
    assert.equal(off.flash, 0);
    assert.equal(off.softmax, model.nLayers);
    assertWithinLargest(on.values, off.values, 1e-5, "flash against three dispatches");
    // The blocked kernel (the demo's 32-wide heads) in the same place: one dispatch per layer, the same logits.
    const blockedCount = countDispatches((key) => key.startsWith("lmprobeFlashBlocked"));
    const blocks = await logits("blocks");
    blockedCount.stop();
    assert.equal(blockedCount.count(), model.nLayers, "one blocked dispatch per layer");
    assertWithinLargest(blocks.values, off.values, 1e-5, "the blocked kernel against three dispatches");
    // A hook on the pattern needs the pattern: the three-dispatch path runs, and the hook sees rows summing to 1.
    process.env.LMPROBE_WEBGPU_FLASH = "on";
    const before = flash.count();
    const observed = model.run([ids.slice(0, 20)], { cache: ["blocks.0.attn.hook_pattern"] });
    assert.equal(flash.count() - before, model.nLayers - 1, "every layer but the observed one");
    const sums = tf.sum(observed.cache.get("blocks.0.attn.hook_pattern"), -1);
    const rows = (await sums.data()) as Float32Array;
    assert.ok(rows.length === 20 * model.config.numHeads && rows.every((s) => Math.abs(s - 1) < 1e-5));
    tf.dispose(sums);
    observed.dispose();
    process.env.LMPROBE_WEBGPU_FLASH = "sometimes";
    assert.throws(() => model.run([ids]), (err: unknown) => err instanceof LmprobeError && /LMPROBE_WEBGPU_FLASH/.test((err as Error).message));
  } finally {
    flash.stop();
    softmax.stop();
    model.dispose();
    restore();
  }
});

test("models on webgpu: the flash kernel's causal skip keeps every bit, and its logits are the three-dispatch path's", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const { loadModel } = await import("../../src/load");
  const flash = countDispatches((key) => key.startsWith("lmprobeFlashAttention") && key.endsWith("_true"));
  const restore = saveEnv("LMPROBE_WEBGPU_FLASH", "LMPROBE_WEBGPU_CAUSAL_SKIP");
  try {
    // Grouped heads (llama), a sliding window and softcaps (gemma2), biases and no rotary (gpt2), ALiBi (bloom).
    for (const name of ["tiny/llama", "tiny/gemma2", "tiny/gpt2", "generated/bloom"]) {
      const model = await loadModel(`test/fixtures/${name}`);
      // The fixtures' whole context: two workgroups of query rows, several tiles of keys.
      const ids = Array.from({ length: 128 }, (_, i) => 1 + ((i * 37) % (model.config.vocabSize - 1)));
      const logits = async (flashOn: string, skip: string) => {
        process.env.LMPROBE_WEBGPU_FLASH = flashOn;
        process.env.LMPROBE_WEBGPU_CAUSAL_SKIP = skip;
        const r = model.run([ids]);
        const values = (await r.logits.data()) as Float32Array;
        r.dispose();
        return values;
      };
      const before = flash.count();
      const skipped = await logits("auto", "on"); // 128 positions: the default takes the flash kernel
      assert.ok(flash.count() > before, `${name}: the flash kernel ran with its causal skip`);
      const whole = await logits("on", "off");
      // A skipped tile would have left m, l and o as they were: its scores are the mask's minimum, exp of which is 0.
      assert.deepEqual(Array.from(skipped), Array.from(whole), `${name}: the skip changes no bit`);
      const three = await logits("off", "on");
      assertWithinLargest(skipped, three, 1e-5, `${name}: flash against three dispatches`);
      model.dispose();
    }
  } finally {
    flash.stop();
    restore();
  }
});

test("generation on webgpu with a KV cache (keys head-major, one query per step): the flash kernel's tokens and margins are the three dispatches'", async (t) => {
  if (!(await webgpuOrSkip(t))) return;
  const { loadModel } = await import("../../src/load");
  const flash = countDispatches((key) => key.startsWith("lmprobeFlashAttention"));
  const restore = saveEnv("LMPROBE_WEBGPU_FLASH");
  // Grouped heads with rotary (llama) and a left-padded batch of two (wholly masked rows in the prompt's step).
  const model = await loadModel("test/fixtures/tiny/llama");
  try {
    const prompts = [Array.from({ length: 12 }, (_, i) => 3 + ((i * 41) % 500)), Array.from({ length: 7 }, (_, i) => 5 + ((i * 17) % 500))];
    const run = async (setting: string) => {
      process.env.LMPROBE_WEBGPU_FLASH = setting;
      const before = flash.count();
      const g = await model.generate(prompts, { maxNewTokens: 6, stopAtEos: false });
      const out = { tokens: g.newTokens, margins: g.margins, dispatches: flash.count() - before };
      g.dispose();
      return out;
    };
    const on = await run("auto");
    const off = await run("off");
    assert.ok(on.dispatches >= 6 * model.nLayers, `flash dispatches while generating: ${on.dispatches}`);
    assert.equal(off.dispatches, 0);
    assert.deepEqual(on.tokens, off.tokens);
    on.margins.forEach((step, s) => step.forEach((m, r) => assert.ok(Math.abs(m - off.margins[s][r]) < 1e-4, `step ${s}, row ${r}: margin ${m} against ${off.margins[s][r]}`)));
  } finally {
    flash.stop();
    model.dispose();
    restore();
  }
});
