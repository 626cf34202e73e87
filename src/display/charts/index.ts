export { logitLensChart, type LogitLensChartOptions } from "./logit-lens";
export { targetTrajectoryChart, entropyChart, type TrajectoryChartOptions, type EntropyChartOptions } from "./trajectory";
export { similarityChart, type SimilarityChartOptions } from "./similarity";
export { attentionChart, type AttentionChartOptions } from "./attention";
export { tokenProbsChart, type TokenProbsChartOptions } from "./token-probs";
export { residualNormChart, type ResidualNormChartOptions } from "./residual-norms";
export { expertLoadChart, expertRoutingChart, type ExpertLoadChartOptions, type RoutingChartOptions } from "./moe";
export { patchingChart, type PatchingChartOptions } from "./patching";
export { headScoresChart, type HeadScoresChartOptions } from "./head-scores";
