// Public API of model/ (re-exported by src/index.ts).
export { buildModel, type CheckpointParts } from "./build";
export { LanguageModel, type RunOptions, type RunResult } from "./model";
export { ActivationCache } from "./cache";
export { saveCache, loadCache } from "./cache-io";
export type { GenerateOptions, GenerateResult } from "./generate";
export { resolveHookName, hookPointNames, type HookContext, type HookFn, type HookMap, type CacheFilter } from "./hooks";
export { HOOK_POINTS, HOOK_CONDITIONS, hookPointOf, hookPointByShort, hookPointName, type HookPoint, type HookAxis, type HookCondition } from "./hook-points";
export type { ModelInput, TokenizeOptions } from "./inputs";
export { registerArchitecture, supportedModelTypes, type ArchitectureConverter } from "./architectures";
export { registerMlpForward, type MlpForward, type MlpContext } from "./components/mlp";
export type * from "./canonical";
export type { MoeWeights, MoeDispatch, ExpertWeights, ExpertGlu, RoutingRule, RoutingOrder } from "./components/moe";
export { provenance, provenanceLine, provenanceDifferences, provenanceIfReady, onlyLoadedModel, recordModelSource, type Provenance, type ModelSource } from "./provenance";
export { gradientCache, type GradientCacheOptions, type GradientCacheResult, type GradientMetric } from "./gradients";
