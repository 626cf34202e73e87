// Public API of probe/ (re-exported by src/index.ts): analyses that reduce on the device and return Arquero tables.
export type { ProbeInput, ProbeProgress, LongProbeOptions } from "./types";
export { type Table } from "./table";
export { logitLens, logitLensFromCache, logitLensHooks, type LensStream, type LogitLensOptions, type LogitLensResult } from "./logit-lens";
export { tokenProbabilities, generationProbabilities, confidenceBand, type TokenProbsOptions, type TokenProbsResult, type ConfidenceBand } from "./token-probs";
export { layerSimilarity, layerSimilarityFromCache, type LayerSimilarityOptions, type LayerSimilarityResult } from "./layer-similarity";
export { residualNorms, residualNormsFromCache, residualNormHooks, type ResidualResult } from "./residual";
export { attentionPatterns, attentionFromCache, type AttentionOptions, type AttentionResult } from "./attention";
export { detectHeads, headScoresFromCache, headScoreMasks, topHeads, HEAD_SCORES, type HeadScore, type HeadDetectorOptions, type HeadDetectorResult } from "./head-detectors";
export { DEMO_INDUCTION_NOUNS, demoInductionPrompt, repeatedRandomTokens, defaultInductionSequence, isDemoModel, type DemoInductionPrompt } from "./induction-prompts";
export { moeRouting, moeRoutingFromCache, moeLayers, moeHooks, gini, type MoeRoutingResult } from "./moe";
export { directLogitAttribution, dlaFromCache, dlaHooks, type DlaOptions, type DlaResult } from "./direct-logit-attribution";
export { exportTable, saveTable, type TableFormat } from "./export";
export { resolveTokenId, resolvePositions, type TokenSpec } from "./tokens";
export { lensHeadOf, type LensHead } from "./lens-head";
export { seededRandom } from "./random";
export { fullProbe, type FullProbeResult } from "./full-probe";
// The analyses MLXLMProbe users know, done on the device from the exact activations.
export { modelOverview, type ModelOverview, type ModelOverviewOptions } from "./model-overview";
export { attentionDistance, attentionDistanceFromCache, classifyDistance, type AttentionDistanceOptions, type AttentionDistanceResult, type DistanceClass } from "./attention-distance";
export { logitDistribution, type LogitDistributionOptions, type LogitDistributionResult } from "./logit-distribution";
export { layerActivations, type LayerActivationsOptions, type LayerActivationsResult } from "./layer-activations";
export { embeddingPca, type EmbeddingPcaOptions, type EmbeddingPcaResult } from "./embedding-pca";
export { compareRuns, type CompareRunsOptions, type CompareRunsResult } from "./run-comparison";
export { quickStats, type QuickStats } from "./quick-stats";
export { promptSections, withSections, type PromptSectionsOptions, type PromptSectionsResult, type Section } from "./prompt-sections";
export { moeInsights, routingInspector, expertStatus, type MoeInsights, type MoeInsightOptions, type ExpertStatus } from "./moe-insights";
export { readExport, type AnalysisRecord, type ExportMetadata } from "./export";
export { checkReproduction, exportAnalysis, reproducibleProbes, type ReproductionResult } from "./reproduce";
