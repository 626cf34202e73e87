// Public API of tensor/ (re-exported by src/index.ts): device-side tensor utilities, backend-agnostic.
export { softmax } from "./softmax";
export { logSoftmax, logSumExp } from "./log-softmax";
export { norm, type NormOptions } from "./norm";
export { entropy, type EntropyBase, type EntropyOptions } from "./entropy";
export { cosineSimilarityMatrix } from "./cosine-similarity-matrix";
export { topK, type TopK } from "./top-k";
export { type Unembedding } from "./unembedding";
export { lensReduction, defaultVocabChunk, type LensReductionOptions, type LensReductionTensors } from "./lens-reduction";
export { lensReduce, type LensReduceOptions, type LensStats } from "./lens-reduce";
export { histogram, finiteRange, type DeviceHistogram, type HistogramRange } from "./histogram";
export { pca, type PcaOptions, type PcaResult } from "./pca";
