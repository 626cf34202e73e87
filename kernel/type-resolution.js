"use strict";
// Makes `<notebook dir>/node_modules/lmprobe` (and lmprobe's own dependencies: @tensorflow/tfjs-core, arquero…)
// exist for tslab's TypeScript compiler host, which resolves imports with Node10 rules from the notebook's
// directory and reads files through `ts.sys` (tslab's host object inherits from `ts.sys` and forwards file reads
// to it, so wrapping the `ts.sys` methods is enough). A path that really exists is always used as is; only absent
// paths under the virtual folder are mapped: `lmprobe/...` onto this package, `<name>/...` onto this package's
// node_modules/<name>. `realpath` returns the real location, so the package's own imports resolve from there.
const path = require("node:path");
const fs = require("node:fs");

function mapPackageIntoTypeChecker(ts, notebookDir, packageRoot) {
  const virtualModules = path.join(notebookDir, "node_modules");
  const packageModules = path.join(packageRoot, "node_modules");
  const sys = ts.sys;
  const exists = (p) => fs.existsSync(p);

  /** The real path behind an absent virtual path, or undefined to leave the path alone. */
  const toReal = (p) => {
    const rel = path.relative(virtualModules, p);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel) || exists(p)) return undefined;
    const [first, ...rest] = rel.split(path.sep);
    if (first === "lmprobe") return path.join(packageRoot, ...rest);
    return path.join(packageModules, rel);
  };
  const wrap = (name, onVirtual) => {
    const original = sys[name].bind(sys);
    sys[name] = (p, ...rest) => {
      const real = typeof p === "string" ? toReal(path.resolve(p)) : undefined;
      return real === undefined ? original(p, ...rest) : onVirtual(original, real, rest);
    };
  };
  wrap("fileExists", (original, real) => original(real));
  wrap("readFile", (original, real, rest) => original(real, ...rest));
  wrap("directoryExists", (original, real) => original(real));
  wrap("getDirectories", (original, real) => original(real));
  wrap("readDirectory", (original, real, rest) => original(real, ...rest));
  wrap("realpath", (_original, real) => (exists(real) ? fs.realpathSync(real) : real));

  // The virtual folder itself must exist too (tslab fakes it only for tslab's own sake).
  const directoryExists = sys.directoryExists;
  sys.directoryExists = (p) => path.resolve(p) === virtualModules || directoryExists(p);
}

module.exports = { mapPackageIntoTypeChecker };
