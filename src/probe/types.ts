// Shared types of the probes. Probes take the engine's LanguageModel and ActivationCache.
import type { LanguageModel } from "../model/model";
import type { ActivationCache } from "../model/cache";

export type ProbeModel = LanguageModel;
export type CacheLike = Pick<ActivationCache, "get" | "names" | "has">;

/** Text, or token ids (one sequence). */
export type ProbeInput = string | number[];

/** Progress of a long probe: `done` of `total` units of the named stage. */
export interface ProbeProgress {
  stage: string;
  done: number;
  total: number;
}

/** Options every long probe accepts. */
export interface LongProbeOptions {
  onProgress?: (progress: ProbeProgress) => void;
  signal?: AbortSignal;
}
