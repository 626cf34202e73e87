// Many variants of one prompt in few forward passes: each batch row is a copy of the prompt with its own
// patches (activations taken from a source run), evaluated by a metric of the last position's logits. Rows are
// chunked so that a pass holds at most `batchSize` rows; only the last position is unembedded, so a chunk's
// logits are [rows, vocab] whatever the prompt length.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, throwIfAborted } from "../errors";
import type { ActivationCache } from "../model/cache";
import { forward } from "../model/forward";
import { HookRunner, prepareHooks, type HookMap } from "../model/hooks";
import { padBatch } from "../model/inputs";
import type { LanguageModel } from "../model/model";
import type { ProbeProgress } from "../probe/types";
import { combineHooks } from "./combine-hooks";
import { hookLayout } from "./hook-layout";

/** One activation cell set to patch: a hook at some positions (null: all) and heads (null: all). */
export interface PatchSite {
  hook: string;
  positions: number[] | null;
  heads: number[] | null;
}

/** Per-row values of the last position's logits [rows, vocab] → [rows]. */
export type LogitsMetric = (lastLogits: tf.Tensor2D) => tf.Tensor1D;

export interface RowRunOptions {
  metric: LogitsMetric;
  /** Rows per forward pass. */
  batchSize: number;
  /** Extra hooks of a chunk, given the global indices of its rows (e.g. per-row noise). */
  chunkHooks?: (rows: number[]) => HookMap;
  onProgress?: (p: ProbeProgress) => void;
  signal?: AbortSignal;
  /** Name of the operation, for progress and abort messages. */
  stage: string;
}

/** Default rows per pass: about 4096 tokens, at least 1. */
export function defaultBatchSize(tokens: number): number {
  return Math.max(1, Math.floor(4096 / tokens));
}

export function checkBatchSize(batchSize: number | undefined, tokens: number): number {
  if (batchSize === undefined) return defaultBatchSize(tokens);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ArgumentError("batchSize", `is ${batchSize}`, "use a positive integer (rows per forward pass)");
  return batchSize;
}

/** Logits of the last position [rows, vocab] of the rows (left-padded when of different lengths), under hooks. */
export function lastPositionLogits(model: LanguageModel, rows: number[][], hooks: HookMap = {}): tf.Tensor2D {
  const batch = padBatch(rows, model.padTokenId(), model.weights.maxPositions);
  const runner = new HookRunner(() => false, prepareHooks(hooks, model.hookPoints()));
  return tf.tidy(() => forward(model.weights, batch, runner, { lastPositionOnly: true }).squeeze([1]) as tf.Tensor2D);
}

/**
 * The metric of each row: `tokens` run once per row, row r with the sites `rows[r]` replaced by the source's
 * activations (the source cache holds each site's hook for one sequence of the same length, [1, pos, …]).
 */
export async function runPatchedRows(model: LanguageModel, tokens: number[], rows: PatchSite[][], source: ActivationCache, opts: RowRunOptions): Promise<Float32Array> {
  const out = new Float32Array(rows.length);
  for (let start = 0; start < rows.length; start += opts.batchSize) {
    throwIfAborted(opts.signal, opts.stage);
    const ids = Array.from({ length: Math.min(opts.batchSize, rows.length - start) }, (_, i) => start + i);
    let hooks = patchHooks(ids.map((r) => rows[r]), source);
    if (opts.chunkHooks) hooks = combineHooks(hooks, opts.chunkHooks(ids));
    const values = tf.tidy(() => opts.metric(lastPositionLogits(model, ids.map(() => tokens), hooks)));
    try {
      out.set((await values.data()) as Float32Array, start);
    } finally {
      values.dispose();
    }
    opts.onProgress?.({ stage: opts.stage, done: start + ids.length, total: rows.length });
  }
  return out;
}

/** Hooks that patch each row's sites of a chunk (row i of the chunk = rows[i]) from the source cache. */
export function patchHooks(rows: PatchSite[][], source: ActivationCache): HookMap {
  const byHook = new Map<string, { row: number; site: PatchSite }[]>();
  rows.forEach((sites, row) => {
    for (const site of sites) byHook.set(site.hook, [...(byHook.get(site.hook) ?? []), { row, site }]);
  });
  const hooks: HookMap = {};
  for (const [name, entries] of byHook) {
    const clean = source.get(name);
    hooks[name] = (act) => {
      if (clean.shape.slice(1).some((d, i) => d !== act.shape[i + 1])) {
        throw new ArgumentError("source", `has "${name}" of shape [${clean.shape}] but the patched run has [${act.shape}]`, "patch between prompts of the same token length");
      }
      // act + mask · (clean − act), broadcasting mask [rows, pos|1, heads|1, 1…] and clean [1, …]: no tiled
      // copies of either (patched hooks are finite: residual stream, outputs, z).
      const mask = rowMask(act.shape, hookLayout(name), entries);
      return tf.add(act, tf.mul(mask, tf.sub(clean, act)));
    };
  }
  return hooks;
}

/** Float mask broadcastable to `shape`: 1 on each entry's row × positions × heads, else 0. */
function rowMask(shape: number[], layout: ReturnType<typeof hookLayout>, entries: { row: number; site: PatchSite }[]): tf.Tensor {
  const posAxis = layout.position;
  const headAxis = layout.head;
  const maskShape = shape.map((d, i) => (i === 0 ? d : 1));
  const anyPositions = entries.some((e) => e.site.positions !== null);
  const anyHeads = entries.some((e) => e.site.heads !== null);
  if (anyPositions) maskShape[posAxis] = shape[posAxis];
  if (anyHeads) {
    if (headAxis === null) throw new ArgumentError("sites", `select heads on "${entries[0].site.hook}", which has no head axis`, "patch heads on attn.hook_z (or hook_q/k/v)");
    maskShape[headAxis] = shape[headAxis];
  }
  const buffer = tf.buffer(maskShape, "float32");
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  for (const { row, site } of entries) {
    const positions = anyPositions ? site.positions ?? all(shape[posAxis]) : [0];
    const heads = anyHeads ? site.heads ?? all(shape[headAxis!]) : [0];
    for (const p of positions) {
      if (p < 0 || p >= shape[posAxis]) throw new ArgumentError("position", `${p} is outside the prompt's ${shape[posAxis]} positions`, `use positions 0 … ${shape[posAxis] - 1}`);
      for (const h of heads) {
        if (h < 0 || h >= (headAxis === null ? 1 : shape[headAxis])) throw new ArgumentError("head", `${h} is outside the ${shape[headAxis!]} heads of "${site.hook}"`, `use heads 0 … ${shape[headAxis!] - 1}`);
        const index = maskShape.map(() => 0);
        index[0] = row;
        if (anyPositions) index[posAxis] = p;
        if (anyHeads) index[headAxis!] = h;
        buffer.set(1, ...index);
      }
    }
  }
  return buffer.toTensor();
}
