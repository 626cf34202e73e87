// Every probe that runs the model says when what it read holds NaN or ±Infinity (a weight near the float32
// limit, an intervention that overflows), instead of handing back rows with null log-probabilities and no word.
// The check reads the run's logits and cached activations (one isFinite pass and one small read); only when it
// finds something is the forward pass run again, observing every hook point, to name where it began.
import type { RunResult } from "../model/model";
import { describeNonFinite, disposeObserved, firstNonFinite, firstNonFiniteIndex, type NonFiniteReport, type Observed } from "../model/non-finite";
import type { ProbeInput, ProbeModel } from "./types";

export { describeNonFinite, type NonFiniteReport, type NonFiniteSite } from "../model/non-finite";

/** null when the run's logits and cached activations are all finite, else where the forward pass first went wrong. */
export async function nonFiniteOfRun(model: ProbeModel, run: RunResult, input: ProbeInput, prependBos?: boolean): Promise<NonFiniteReport | null> {
  const observed: Observed[] = [];
  try {
    for (const name of model.hookPoints()) {
      if (run.cache.has(name)) observed.push({ hook: name, layer: null, shape: run.cache.get(name).shape, flag: firstNonFiniteIndex(run.cache.get(name)) });
    }
    observed.push({ hook: "logits", layer: null, shape: run.logits.shape, flag: firstNonFiniteIndex(run.logits) });
    if (!(await firstNonFinite(observed))) return null;
  } finally {
    disposeObserved(observed);
  }
  const site = await model.findNonFinite(input, {}, { prependBos, lastPositionOnly: true });
  // A run that found nothing the second time (non-determinism) still reports what the cache showed.
  return site ? { site, message: describeNonFinite(site) } : { site: { hook: "(cache)", layer: null, position: null, index: [], value: NaN }, message: "non-finite values in the cached activations" };
}

/** Adds `nonFinite` to a probe's result. */
export async function withNonFiniteCheck<T extends object>(result: T, model: ProbeModel, run: RunResult, input: ProbeInput, prependBos?: boolean): Promise<T & { nonFinite: NonFiniteReport | null }> {
  return Object.assign(result, { nonFinite: await nonFiniteOfRun(model, run, input, prependBos) });
}
