// "lmprobe/internal": every export of every area, the public API's names included, for tests, benchmarks,
// experiments and extensions (new architectures, MLP kinds, kernels). No promise of stability: a name here that a
// notebook should rely on belongs in src/index.ts, with a doc comment.
import "./tensor-methods"; // before anything builds a tensor: chained methods (x.reshape(…))
export * from "./errors";
export * from "./backend";
export * from "./io";
export * from "./tensor";
export * from "./model";
export { loadModel, resolveCheckpointDir, type LoadOptions } from "./load";
export * from "./probe";
export * from "./verify";
export * from "./intervene";
export * from "./display";
export * from "./workshop";
