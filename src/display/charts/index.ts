export { logitLensChart, type LogitLensChartOptions } from "./logit-lens";
export { targetTrajectoryChart, entropyChart, type TrajectoryChartOptions, type EntropyChartOptions } from "./trajectory";
export { similarityChart, type SimilarityChartOptions } from "./similarity";
export { attentionChart, type AttentionChartOptions } from "./attention";
export { tokenProbsChart, type TokenProbsChartOptions } from "./token-probs";
export { residualNormChart, type ResidualNormChartOptions } from "./residual-norms";
export { expertLoadChart, expertRoutingChart, type ExpertLoadChartOptions, type RoutingChartOptions } from "./moe";
export {
  patchingChart, headPositionChart, activationPatchingChart, causalTraceChart, attributionComparisonChart, type PatchingChartOptions, type HeadPositionChartOptions,
} from "./patching";
export { headScoresChart, type HeadScoresChartOptions } from "./head-scores";
export { concatCharts, type ConcatOptions } from "./concat";
export { logitAttributionChart, headAttributionChart, type LogitAttributionChartOptions } from "./logit-attribution";
export { parameterChart, histogramChart, attentionDistanceChart, headDistanceChart, pcaChart, comparisonChart, moeBalanceChart } from "./analysis";
export { generationReplayChart, type GenerationReplayOptions } from "./generation-replay";
export {
  attentionHeadsChart, attentionOverviewChart, attentionStackOf, rankHeads, windowedPattern,
  type AttentionStack, type HeadRef, type AttentionHeadsChartOptions, type AttentionOverviewOptions,
} from "./attention-stack";
export { tokenAttributionChart, ATTRIBUTION_METHODS, type AttributionMethod, type TokenAttributionChartOptions, tokenAttributionResultChart } from "./token-attribution";
