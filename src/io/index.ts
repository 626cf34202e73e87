// Public API of io/ (re-exported by src/index.ts).
export type { StoredDtype, UnreadableDtype, TensorInfo, WeightSource } from "./weight-source";
export type { ChatMessage, Tokenizer } from "./tokenizer-types";
export { normalizeConfig, type ModelConfig } from "./config";
export { SafetensorsFile } from "./safetensors";
export { readSafetensorsHeader, MAX_HEADER_BYTES, type SafetensorsEntry, type SafetensorsHeader } from "./safetensors-header";
export { writeSafetensors, writeShardedSafetensors, type TensorToWrite, type WritableDtype } from "./safetensors-writer";
export { openWeightSource, SafetensorsWeights } from "./safetensors-weights";
export { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "./half-float";
export { loadTokenizer, type TokenizerOptions } from "./tokenizer";
export { openCheckpoint, type Checkpoint } from "./checkpoint";
export { downloadCheckpoint, verifyCachedSnapshot, type DownloadProgress, type HubOptions } from "./hub";
export { estimateMemoryFromConfig } from "./memory-from-config";
export { hubCacheDir } from "./hub-cache";
export { estimateMemory, backendCapacity, checkMemoryFits, bytesNeededOn, WASM_HEAP_BYTES, type MemoryEstimate, type BackendCapacity } from "./memory-estimate";
export { demoModelDir, packageRoot } from "./package-root";
// GGUF and MXFP4 (quantised checkpoints).
export { GgufFile, type GgufTensor, type GgufMetaValue } from "./gguf/gguf-file";
export { dequantize, READABLE_GGML_TYPES } from "./gguf/dequantize";
export { ggmlType, ggmlTypeById, type GgmlType } from "./gguf/ggml-types";
export { openGgufCheckpoint } from "./gguf/gguf-checkpoint";
export { GGUF_ARCHITECTURES } from "./gguf/gguf-model";
export { resolveLocalStore, ollamaModelsDir, lmStudioModelsDirs } from "./gguf/local-stores";
export { dequantizeMxfp4, Mxfp4Weights } from "./mxfp4";
export { chooseLayerStreaming } from "./memory-estimate";
