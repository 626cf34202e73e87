"use strict";
// The pieces of tslab (pinned at exactly 1.0.22 in package.json) that lmprobe's kernel builds on: its converter
// (TypeScript → JavaScript per cell), its executor (runs a converted cell) and its Jupyter protocol classes. They
// are internals, not tslab's public API, so each one is checked here and a missing piece stops the kernel with
// a message saying which tslab was found and what to do.
//
// To point a failing cell's traceback at the cell's own lines, the kernel needs source maps of both of tslab's
// compilation steps (TypeScript → ES module with its own transformers, then ES module → CommonJS). tslab passes
// fixed compiler options, so the TypeScript module it loads is replaced, before tslab loads it, by a copy whose
// createWatchCompilerHost adds `inlineSourceMap` and whose transpileModule keeps both maps (see `cellMaps`).
const path = require("node:path");
const { SourceMap } = require("node:module");

const PINNED = "1.0.22";

/** Throws a clear error when tslab lacks `what`. */
function need(ok, tslabDir, what) {
  if (ok) return;
  let version = "unknown";
  try {
    version = require(path.join(tslabDir, "package.json")).version;
  } catch {}
  throw new Error(
    `lmprobe kernel: tslab ${version} at ${tslabDir} lacks ${what}; the kernel is written against tslab ${PINNED}'s ` +
      `internals. Reinstall lmprobe's own dependencies (npm ci in lmprobe's folder), which pin tslab ${PINNED}.`,
  );
}

const INLINE_MAP = /\n?\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;
const MAP_COMMENT = /\n?\/\/# sourceMappingURL=\S*\s*$/;

/**
 * Loads tslab's internals from `tslabDir`, with the TypeScript module swapped for the source-mapping copy. Must
 * run before anything else requires tslab's converter. Returns the modules and `mapsOf(outputText)`, the pair of
 * source maps (TypeScript → ES module, ES module → CommonJS) of a converted output, or undefined.
 */
function loadTslab(tslabDir) {
  const tsPath = require.resolve("@tslab/typescript-for-tslab", { paths: [tslabDir] });
  const ts = require(tsPath);
  need(typeof ts.createWatchCompilerHost === "function" && typeof ts.transpileModule === "function", tslabDir, "ts.createWatchCompilerHost/transpileModule");

  /** outputText → { esm, cjs } source maps; filled by transpileModule, emptied by `forgetMaps`. */
  const maps = new Map();
  const descriptors = Object.getOwnPropertyDescriptors(ts);
  for (const d of Object.values(descriptors)) d.configurable = true;
  const copy = Object.defineProperties({}, descriptors);
  Object.defineProperty(copy, "createWatchCompilerHost", {
    enumerable: true,
    value: (rootFiles, options, ...rest) => ts.createWatchCompilerHost(rootFiles, { ...options, inlineSourceMap: true }, ...rest),
  });
  Object.defineProperty(copy, "transpileModule", {
    enumerable: true,
    value: (input, transpileOptions) => {
      const inline = INLINE_MAP.exec(input);
      if (!inline || transpileOptions?.compilerOptions?.sourceMap) return ts.transpileModule(input, transpileOptions);
      const result = ts.transpileModule(input.slice(0, inline.index), {
        ...transpileOptions,
        compilerOptions: { ...transpileOptions?.compilerOptions, sourceMap: true },
      });
      const outputText = result.outputText.replace(MAP_COMMENT, "");
      maps.set(outputText, { esm: JSON.parse(Buffer.from(inline[1], "base64").toString("utf8")), cjs: JSON.parse(result.sourceMapText) });
      return { ...result, outputText, sourceMapText: undefined };
    },
  });
  const cached = require.cache[tsPath];
  need(cached && cached.exports === ts, tslabDir, "a CommonJS @tslab/typescript-for-tslab");
  cached.exports = copy;

  const converter = require(path.join(tslabDir, "dist", "converter.js"));
  const executor = require(path.join(tslabDir, "dist", "executor.js"));
  const jupyter = require(path.join(tslabDir, "dist", "jupyter.js"));
  need(typeof converter.createConverter === "function", tslabDir, "converter.createConverter");
  need(typeof executor.createExecutor === "function", tslabDir, "executor.createExecutor");
  need(typeof jupyter.JupyterHandlerImpl === "function" && typeof jupyter.JupyterHandlerImpl.prototype.createWriteToIopub === "function", tslabDir, "jupyter.JupyterHandlerImpl");
  const server = jupyter.ZmqServer?.prototype;
  need(typeof server?.handleExecute === "function" && typeof server.handleShellMessage === "function" && typeof server.bindSocket === "function", tslabDir, "jupyter.ZmqServer (handleExecute, handleShellMessage, bindSocket)");
  need("lastWriteDisplayData" in jupyter, tslabDir, "jupyter.lastWriteDisplayData");

  return {
    ts: copy,
    converter,
    executor,
    jupyter,
    /** The source maps of a converted cell's output text, as plain JSON payloads, or undefined. */
    mapsOf: (outputText) => {
      const m = maps.get(outputText);
      return m && { esm: new SourceMap(m.esm), cjs: new SourceMap(m.cjs) };
    },
    forgetMaps: () => maps.clear(),
  };
}

module.exports = { loadTslab, PINNED };
