// Public API of verify/: compare the engine with a reference file.
export { verify, type VerifyOptions, type VerifyResult, type VerifyTensorResult } from "./verify";
export { formatVerifyTable, verifyHtml, verifyJson } from "./format";
export { compareArrays, type Tolerance, type TensorComparison } from "./compare";
export { NEAR_TIE_MARGIN, type GenerationCheck, type GenerationRun } from "./generation";
