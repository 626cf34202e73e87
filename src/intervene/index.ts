// Public API of intervene/ (re-exported by src/index.ts): ablation, activation patching, causal tracing,
// steering and branching generation, all as hooks on the engine's forward pass.
export { zeroAblate } from "./zero-ablate";
export { meanAblate, type MeanAblationOptions } from "./mean-ablate";
export { resampleAblate, type ResampleAblationOptions } from "./resample-ablate";
export { zeroAblateExpert, type ExpertAblationOptions } from "./expert-ablate";
export { combineHooks } from "./combine-hooks";
export { type Selection } from "./hook-layout";
export { activationPatching, type ActivationPatchingOptions, type PatchComponent, type GridCell } from "./activation-patching";
export { patchGroups, type PatchGroupsOptions, type PatchGroupsResult, type PatchSpec } from "./patch-groups";
export { logitDifference, type PatchingSetupOptions } from "./patching-setup";
export { type PatchingResult } from "./patching-result";
export { type LogitsMetric } from "./batched-forward";
export { causalTrace, type CausalTraceOptions, type CausalTraceResult, type TraceState } from "./causal-trace";
export { steeringVector, steer, type SteeringVector, type SteeringVectorOptions, type SteerOptions } from "./steering";
export { branchGeneration, type BranchOptions, type BranchResult, type Branch } from "./branching";
export { tokenSpan } from "./token-span";
export { attributionPatching } from "./attribution-patching";
export { compareAttribution, spearman, pearson, type PatchingComparison, type PatchingComparisonOptions } from "./patching-comparison";
