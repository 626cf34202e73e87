// lmprobe's public API, in groups. Each group opens with a "// ## Title" line and a comment saying what it is for:
// scripts/docs/readme-sections.ts reads them to write the README's API list, and every name here must carry a doc
// comment (test/docs/public-api.test.ts). Everything else, the internals that tests, benchmarks and extensions
// use, is exported from src/internal.ts ("lmprobe/internal"), with no promise of stability. To add a name, put it in
// the group it belongs to, one export statement per source module.
import "./tensor-methods"; // before anything builds a tensor: chained methods (x.reshape(…))

// ## Load
// A model from the built-in demo, a local checkpoint or the hub, on the best backend this machine has.
export { loadModel, type LoadOptions } from "./load";
export { LanguageModel } from "./model/model";
export { supportedModelTypes } from "./model/architectures";
export type { ModelConfig } from "./io/config";
export type { ChatMessage, Tokenizer } from "./io/tokenizer-types";
export { downloadCheckpoint, type DownloadProgress, type HubOptions } from "./io/hub";
export { hubCacheDir } from "./io/hub-cache";
export { setBackend, backendReport, type BackendName, type SelectionReport, type CandidateReport } from "./backend";
// model.weights' matrices may be packed 16-bit weights on webgpu: float32Weight(W) gives any of them as float32.
export { float32Weight, isPacked, PackedWeight, type Weight2D } from "./backend/packed-weight";

// ## Run, hooks and cache
// Forward passes that read or replace any activation by its TransformerLens name, the activations kept, generation.
export type { RunOptions, RunResult } from "./model/model";
export type { GenerateOptions, GenerateResult } from "./model/generate";
export type { ModelInput, TokenizeOptions } from "./model/inputs";
export { ActivationCache } from "./model/cache";
export { saveCache, loadCache } from "./model/cache-io";
export { resolveHookName, type HookContext, type HookFn, type HookMap, type CacheFilter } from "./model/hooks";
export { HOOK_POINTS, type HookPoint, type HookAxis, type HookCondition } from "./model/hook-points";

// ## Tensor utilities
// Device-side reductions the probes are built from, usable on any tensor.
export { softmax } from "./tensor/softmax";
export { logSoftmax, logSumExp } from "./tensor/log-softmax";
export { norm, type NormOptions } from "./tensor/norm";
export { entropy, type EntropyBase, type EntropyOptions } from "./tensor/entropy";
export { cosineSimilarityMatrix } from "./tensor/cosine-similarity-matrix";
export { topK, type TopK } from "./tensor/top-k";
export { lensReduction, type LensReductionOptions, type LensReductionTensors } from "./tensor/lens-reduction";
export type { Unembedding } from "./tensor/unembedding";
export { histogram, finiteRange, type DeviceHistogram, type HistogramRange } from "./tensor/histogram";
export { pca, type PcaOptions, type PcaResult } from "./tensor/pca";

// ## Probes
// Analyses that reduce on the device and return small Arquero tables; the *FromCache forms read a saved cache
// (run with the matching *Hooks names cached).
export type { ProbeInput, ProbeProgress, LongProbeOptions } from "./probe/types";
export type { Table } from "./probe/table";
export type { TokenSpec } from "./probe/tokens";
export { logitLens, logitLensFromCache, logitLensHooks, type LensStream, type LogitLensOptions, type LogitLensResult } from "./probe/logit-lens";
export { tokenProbabilities, generationProbabilities, type TokenProbsOptions, type TokenProbsResult, type ConfidenceBand } from "./probe/token-probs";
export { layerSimilarity, layerSimilarityFromCache, type LayerSimilarityOptions, type LayerSimilarityResult } from "./probe/layer-similarity";
export { residualNorms, residualNormsFromCache, residualNormHooks, type ResidualResult } from "./probe/residual";
export { attentionPatterns, attentionFromCache, type AttentionOptions, type AttentionResult } from "./probe/attention";
export { detectHeads, headScoresFromCache, topHeads, type HeadScore, type HeadDetectorOptions, type HeadDetectorResult } from "./probe/head-detectors";
export { repeatedRandomTokens, demoInductionPrompt, type DemoInductionPrompt } from "./probe/induction-prompts";
export { moeRouting, moeRoutingFromCache, moeHooks, type MoeRoutingResult } from "./probe/moe";
export { directLogitAttribution, dlaFromCache, dlaHooks, type DlaOptions, type DlaResult } from "./probe/direct-logit-attribution";
export { fullProbe, type FullProbeResult } from "./probe/full-probe";
export { modelOverview, type ModelOverview, type ModelOverviewOptions } from "./probe/model-overview";
export { quickStats, type QuickStats } from "./probe/quick-stats";
export { promptSections, withSections, type PromptSectionsOptions, type PromptSectionsResult, type Section } from "./probe/prompt-sections";
export { layerActivations, type LayerActivationsOptions, type LayerActivationsResult } from "./probe/layer-activations";
export { embeddingPca, type EmbeddingPcaOptions, type EmbeddingPcaResult } from "./probe/embedding-pca";
export { logitDistribution, type LogitDistributionOptions, type LogitDistributionResult } from "./probe/logit-distribution";
export { attentionDistance, attentionDistanceFromCache, classifyDistance, type AttentionDistanceOptions, type AttentionDistanceResult, type DistanceClass } from "./probe/attention-distance";
export { compareRuns, type CompareRunsOptions, type CompareRunsResult } from "./probe/run-comparison";
export { moeInsights, routingInspector, expertStatus, type MoeInsights, type MoeInsightOptions, type ExpertStatus } from "./probe/moe-insights";
export { exportTable, saveTable, type TableFormat } from "./probe/export";

// ## Gradients
// Gradients of any metric of the logits at any hook point, and the attributions built on them.
export { gradientCache, type GradientCacheOptions, type GradientCacheResult, type GradientMetric } from "./model/gradients";
export { logitDiffMetric, logProbMetric, logitMetric, logitsAt, type MetricPosition } from "./probe/gradient-metrics";
export { tokenAttribution, type TokenAttribution, type TokenAttributionOptions } from "./probe/token-attribution";
export { attributionPatching } from "./intervene/attribution-patching";
export { compareAttribution, type PatchingComparison, type PatchingComparisonOptions } from "./intervene/patching-comparison";

// ## Interventions
// Hooks that ablate, patch, steer and branch, and the experiments built from them.
export type { Selection } from "./intervene/hook-layout";
export { zeroAblate } from "./intervene/zero-ablate";
export { meanAblate, type MeanAblationOptions } from "./intervene/mean-ablate";
export { resampleAblate, type ResampleAblationOptions } from "./intervene/resample-ablate";
export { zeroAblateExpert, type ExpertAblationOptions } from "./intervene/expert-ablate";
export { combineHooks } from "./intervene/combine-hooks";
export { tokenSpan } from "./intervene/token-span";
export { activationPatching, type ActivationPatchingOptions, type PatchComponent, type GridCell } from "./intervene/activation-patching";
export { patchGroups, type PatchGroupsOptions, type PatchGroupsResult, type PatchSpec } from "./intervene/patch-groups";
export { logitDifference, type PatchingSetupOptions } from "./intervene/patching-setup";
export type { PatchingResult } from "./intervene/patching-result";
export type { LogitsMetric } from "./intervene/batched-forward";
export { causalTrace, type CausalTraceOptions, type CausalTraceResult, type TraceState } from "./intervene/causal-trace";
export { steeringVector, steer, type SteeringVector, type SteeringVectorOptions, type SteerOptions } from "./intervene/steering";
export { branchGeneration, type BranchOptions, type BranchResult, type Branch } from "./intervene/branching";

// ## Display
// show() puts any result in the notebook as one display message; one Vega-Lite chart builder per analysis.
export { show, type Showable, type HasMimeBundle } from "./display/show";
export { configureDisplay, type DisplayOptions } from "./display/bundle";
export { Chart, type VegaLiteSpec } from "./display/chart";
export { logitLensChart, type LogitLensChartOptions } from "./display/charts/logit-lens";
export { targetTrajectoryChart, entropyChart, type TrajectoryChartOptions, type EntropyChartOptions } from "./display/charts/trajectory";
export { tokenProbsChart, type TokenProbsChartOptions } from "./display/charts/token-probs";
export { similarityChart, type SimilarityChartOptions } from "./display/charts/similarity";
export { residualNormChart, type ResidualNormChartOptions } from "./display/charts/residual-norms";
export { attentionChart, type AttentionChartOptions } from "./display/charts/attention";
export { headScoresChart, type HeadScoresChartOptions } from "./display/charts/head-scores";
export { expertLoadChart, expertRoutingChart, type ExpertLoadChartOptions, type RoutingChartOptions } from "./display/charts/moe";
export { logitAttributionChart, headAttributionChart, type LogitAttributionChartOptions } from "./display/charts/logit-attribution";
export { patchingChart, headPositionChart, activationPatchingChart, causalTraceChart, attributionComparisonChart, type PatchingChartOptions, type HeadPositionChartOptions } from "./display/charts/patching";
export { tokenAttributionChart, tokenAttributionResultChart, type AttributionMethod, type TokenAttributionChartOptions } from "./display/charts/token-attribution";
export { attentionHeadsChart, attentionOverviewChart, attentionStackOf, rankHeads, type AttentionStack, type HeadRef, type AttentionHeadsChartOptions, type AttentionOverviewOptions } from "./display/charts/attention-stack";
export { concatCharts, type ConcatOptions } from "./display/charts/concat";
export { parameterChart, histogramChart, attentionDistanceChart, headDistanceChart, pcaChart, comparisonChart, moeBalanceChart } from "./display/charts/analysis";
export { generationReplayChart, type GenerationReplayOptions } from "./display/charts/generation-replay";
export { EXPLAINERS } from "./display/explainers";
export type { ShowOptions } from "./display/show";
export type { TableLike, TableHtmlOptions } from "./display/table-html";
export { progress, type Progress, type ProgressOptions } from "./display/progress";
export { inNotebook } from "./display/notebook";
/** Arquero, so a notebook in the lmprobe kernel can build and transform tables with no install of its own. */
export * as aq from "arquero";

// ## Verify
// How faithful the engine is: every tensor of a reference file made by transformers, compared.
export { verify, type VerifyOptions, type VerifyResult, type VerifyTensorResult } from "./verify/verify";
export type { Tolerance, TensorComparison } from "./verify/compare";
export type { GenerationCheck, GenerationRun } from "./verify/generation";

// ## CLI helpers
// What the `lmprobe` command is made of, for scripts that want its output without the command.
export { diagnoseBackends } from "./backend";
export { formatVerifyTable, verifyJson } from "./verify/format";
export { reportHtml, type ReportOptions, type ReportSection, type ReportItem } from "./display/report";

// ## Sharing
// What made each result (weights, config and tokenizer hashes, backend, version), carried by charts, tables,
// reports and exports, and the check that reruns a shared result.
export { provenance, provenanceLine, type Provenance } from "./model/provenance";
export { readExport, type AnalysisRecord, type ExportMetadata } from "./probe/export";
export { exportAnalysis, checkReproduction, type ReproductionResult } from "./probe/reproduce";
export { loadRun, reportFromRun, runTables, type RunFile } from "./display/run-file";

// ## Teaching
// Self-checking workshop exercises on the demo model.
export { workshop, type Workshop } from "./workshop/workshop";
export { CheckResult, type Verdict } from "./workshop/check-result";
export { exerciseList, inductionAccuracy, INDUCTION_SEEDS, CAPITAL_PROMPT, type Exercise } from "./workshop/exercises";
export { initWorkshop, type InitWorkshopResult } from "./workshop/init";

// ## Errors
// Every error lmprobe raises on bad input: each names the file, field or argument at fault and the fix.
export {
  LmprobeError,
  ArgumentError,
  UnknownHookError,
  AbortError,
  BackendUnavailableError,
  ConfigError,
  ContextLengthError,
  DisplayError,
  HubDownloadError,
  HubPathError,
  KernelInstallError,
  MissingFileError,
  ModelTooLargeError,
  NonFiniteWeightError,
  SafetensorsFormatError,
  SynchronousReadError,
  DeviceValidationError,
  UnsupportedArchitectureError,
  UnsupportedDtypeError,
  UnsupportedFormatError,
  WeightShapeError,
  FileExistsError,
  GgufFormatError,
  HubCacheCorruptError,
  TokenizerVocabError,
  NotRegularFileError,
  NonFiniteActivationError,
  GradientMemoryError,
} from "./errors";
