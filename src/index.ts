// lmprobe's public API.
import "./tensor-methods"; // before anything builds a tensor: chained methods (x.reshape(…))
export * from "./errors";
export * from "./backend";
export * from "./io";
export * from "./model";
export * from "./verify";
export * from "./tensor";
export * from "./probe";
export * from "./intervene";
export * from "./display";
// Gradients through the engine: the gradient cache, token attribution (saliency, input × gradient, integrated
// gradients), attribution patching and its comparison with activation patching.
export { gradientCache, type GradientCacheOptions, type GradientCacheResult, type GradientMetric } from "./model/gradients";
export { differentiableOpsRequired, withDifferentiableOps } from "./backend/gradient-mode";
export { logitDiffMetric, logProbMetric, logitMetric, logitsAt, type MetricPosition } from "./probe/gradient-metrics";
export { tokenAttribution, type TokenAttribution, type TokenAttributionOptions } from "./probe/token-attribution";
export { attributionPatching } from "./intervene/attribution-patching";
export { compareAttribution, spearman, pearson, type PatchingComparison, type PatchingComparisonOptions } from "./intervene/patching-comparison";
