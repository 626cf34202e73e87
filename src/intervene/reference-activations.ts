// Activations of a reference batch read back to the host, for interventions that replace a run's activations
// with statistics or samples of other inputs (mean and resample ablation, steering vectors). Reading is async
// so that it also works on GPU backends.
import * as tf from "@tensorflow/tfjs-core";
import type { ModelInput, TokenizeOptions } from "../model/inputs";
import type { LanguageModel } from "../model/model";
import { withInputArgument } from "./input-argument";

export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

export interface ReferenceActivations {
  /** By full hook name: the activation of every row [batch, …]. */
  acts: Map<string, HostTensor>;
  /** 1 for real tokens, 0 for left padding, [batch][pos]. */
  mask: number[][];
  tokens: number[][];
}

/**
 * Runs `input` once, caching `names` (full hook names), and copies those activations to the host. `argument` is the
 * caller's name for `input`, which errors about it name.
 */
export async function referenceActivations(model: LanguageModel, input: ModelInput, names: string[], opts: TokenizeOptions = {}, argument = "input"): Promise<ReferenceActivations> {
  const run = withInputArgument(argument, () => model.run(input, { ...opts, cache: names }));
  try {
    const acts = new Map<string, HostTensor>();
    for (const name of names) {
      const t = run.cache.get(name);
      const f = t.dtype === "float32" ? t : tf.cast(t, "float32");
      try {
        acts.set(name, { data: (await f.data()) as Float32Array, shape: [...t.shape] });
      } finally {
        if (f !== t) f.dispose();
      }
    }
    return { acts, mask: run.attentionMask, tokens: run.tokens };
  } finally {
    run.dispose();
  }
}

/** Size of the trailing axes from `axis` on. */
export function trailingSize(shape: number[], axis: number): number {
  return shape.slice(axis).reduce((a, b) => a * b, 1);
}
