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
export { saveCache, loadCache } from "./cache-io";
export { resolveTokenId, resolvePositions, type TokenSpec } from "./tokens";
export { lensHeadOf, type LensHead } from "./lens-head";
export { seededRandom } from "./random";
export { fullProbe, type FullProbeResult } from "./full-probe";
export { describeNonFinite, type NonFiniteReport, type NonFiniteSite } from "./non-finite";
