// The full probe of a prompt, as the benchmark and the report measure it: one forward pass with the residual
// stream cached (logits only at the last position), the logit lens over every layer and position (top-k,
// entropy, targets) and both layer-similarity matrices. Peak tensor memory stays near weights + the cached
// residual stream + its one stacked copy, whatever the vocabulary.
import { throwIfAborted } from "../errors";
import { logitLensFromCache, type LogitLensOptions, type LogitLensResult } from "./logit-lens";
import { layerSimilarityFromCache, type LayerSimilarityResult } from "./layer-similarity";
import { residualHookNames } from "./residual-rows";
import type { ProbeInput, ProbeModel } from "./types";
import { withNonFiniteCheck, type NonFiniteReport } from "./non-finite";

/** What fullProbe() returns: the lens, the layer similarity and the tokens. */
export interface FullProbeResult {
  /** Set by the probe that ran the model: where its forward pass first produced NaN/±Infinity, or null. Absent from the *FromCache variants. */
  nonFinite?: NonFiniteReport | null;
  lens: LogitLensResult;
  similarity: LayerSimilarityResult;
  tokens: number[];
}

/** The logit lens and layer similarity from one run, as `lmprobe probe` reports them. */
export async function fullProbe(model: ProbeModel, input: ProbeInput, options: Omit<LogitLensOptions, "streams" | "positions" | "batch"> = {}): Promise<FullProbeResult> {
  throwIfAborted(options.signal, "probe");
  const names = new Set(residualHookNames(model.config.numLayers));
  const run = model.run(input, { cache: (n) => names.has(n), prependBos: options.prependBos, lastPositionOnly: true });
  try {
    const tokens = run.tokens[0];
    const lens = await logitLensFromCache(model, run.cache, tokens, options);
    throwIfAborted(options.signal, "probe");
    const similarity = await layerSimilarityFromCache(run.cache, model.config.numLayers);
    return await withNonFiniteCheck({ lens, similarity, tokens }, model, run, input, options.prependBos);
  } finally {
    run.dispose();
  }
}
