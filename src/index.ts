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
export * from "./workshop";
