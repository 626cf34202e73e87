#!/usr/bin/env node
"use strict";
// Launcher of the "TypeScript (lmprobe)" Jupyter kernel: starts the tslab-based kernel of this package
// (./kernel.js: tslab's compiler and protocol, with errors reported as Jupyter errors) so that
// `import … from "lmprobe"` works, with types, in a notebook in any directory.
//
// tslab resolves a notebook's imports from the notebook's directory twice, with two mechanisms:
//  - at run time through Node's require, which honours NODE_PATH: the kernelspec sets NODE_PATH to a folder
//    holding a `lmprobe` link to this package (written by `lmprobe install-kernel`) and to this package's
//    node_modules (so @tensorflow/tfjs-core and arquero resolve to the instances lmprobe uses); this launcher
//    sets it up itself when started by hand;
//  - at type-check time through its own TypeScript compiler host, with fixed options (Node10 resolution from
//    the notebook's directory, no tsconfig, no NODE_PATH). There, kernel/type-resolution.js makes
//    `<notebook dir>/node_modules/lmprobe` appear as this package, the way tslab itself makes
//    `node_modules/tslab` appear in every directory.
// A notebook whose own project installs lmprobe keeps that copy: both mechanisms step aside and tslab may delegate
// to the project's tslab, as it does for any project.
const fs = require("node:fs");
const path = require("node:path");
const Module = require("node:module");

const packageRoot = path.resolve(__dirname, "..");
const entry = path.join(packageRoot, "dist", "cjs", "index.js");
if (!fs.existsSync(entry)) {
  console.error(`lmprobe kernel: ${entry} is missing; build the package first (npm run build in ${packageRoot})`);
  process.exit(1);
}

/** Whether the notebook's directory (or an ancestor) has its own node_modules/lmprobe. */
function projectHasLmprobe(dir) {
  for (let d = dir; ; d = path.dirname(d)) {
    if (path.basename(d) !== "node_modules" && fs.existsSync(path.join(d, "node_modules", "lmprobe", "package.json"))) return true;
    if (path.dirname(d) === d) return false;
  }
}

/** The tslab of the notebook's own project (tslab's own rule: node_modules/tslab in the directory or an ancestor). */
function findProjectTslab(dir) {
  for (let d = dir; ; d = path.dirname(d)) {
    if (path.basename(d) !== "node_modules" && fs.existsSync(path.join(d, "node_modules", "tslab", "dist", "main.js"))) return path.join(d, "node_modules", "tslab");
    if (path.dirname(d) === d) return undefined;
  }
}

const local = projectHasLmprobe(process.cwd());
const tslabDir = path.dirname(require.resolve("tslab/package.json", { paths: [packageRoot] }));

if (!local) {
  const hash = require("node:crypto").createHash("sha256").update(packageRoot).digest("hex").slice(0, 12);
  const linkDir = path.join(require("node:os").tmpdir(), `lmprobe-node-path-${hash}`);
  const nodePath = (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean);
  const hasLink = nodePath.some((p) => fs.existsSync(path.join(p, "lmprobe", "package.json")));
  if (!hasLink) {
    // Started by hand (not through the kernelspec): make the link folder here and put it on NODE_PATH.
    fs.mkdirSync(linkDir, { recursive: true });
    const link = path.join(linkDir, "lmprobe");
    if (!fs.existsSync(link)) fs.symlinkSync(packageRoot, link, process.platform === "win32" ? "junction" : "dir");
    process.env.NODE_PATH = [linkDir, path.join(packageRoot, "node_modules"), ...nodePath].join(path.delimiter);
    Module._initPaths();
  }
  require("./type-resolution").mapPackageIntoTypeChecker(
    require(require.resolve("@tslab/typescript-for-tslab", { paths: [tslabDir] })),
    process.cwd(),
    packageRoot,
  );
}

const args = process.argv.slice(2);
const at = args.indexOf("--config-path");
if (at < 0 || !args[at + 1]) {
  console.error("usage: launch.js --config-path <connection file>   (Jupyter passes it through kernel.json)");
  process.exit(2);
}
const projectTslab = local ? findProjectTslab(process.cwd()) : undefined;
if (projectTslab) {
  // The project pins its own tslab: run it as tslab runs itself (its internals may differ from the ones
  // ./kernel.js builds on), so cell errors there behave as that tslab makes them.
  require(path.join(projectTslab, "dist", "main.js")).startKernel({
    configPath: args[at + 1],
    enableFindLocal: false,
    jsKernel: false,
    globalVersion: require(path.join(tslabDir, "package.json")).version,
  });
} else {
  require("./kernel").startKernel({ tslabDir, configPath: args[at + 1] });
}
