// The layers of src/ and the checker that holds every import to them. Data flows one way, from checkpoint to
// notebook (io → model → probe/intervene → display); an import points the other way: a file may import only from
// its own area or from a LOWER layer. Type-only imports, `export … from`, `import()` and `require()` all count.
//
//   9  index.ts, internal.ts   the public API and the internal subpath: barrels that re-export everything below
//   8  cli/                    the `lmprobe` command: loads, probes, verifies and writes reports
//   7  workshop/               self-checking exercises: runs probes and interventions, shows verdicts
//   6  display/                tables, results and charts → notebook display bundles (may read result types below)
//   5  intervene/              hooks that ablate, patch, steer, branch (uses probe's token and table helpers)
//   4  load.ts, probe/, verify/  a LanguageModel from a source · analyses → tables · comparison with a reference
//   3  model/                  canonical weights, forward pass with hook points, activation cache, generation
//   2  io/, tensor/            checkpoint files, config, tokenizer, hub · device-side reductions (no model in them)
//   1  backend/                tfjs backend choice and device kernels; the only place that asks which backend runs
//   0  errors.ts, tensor-methods.ts, own-key.ts, html-escape.ts   typed errors, chained tensor methods, own-property
//      lookups, HTML escaping
//
// Areas that share a layer are peers and do not import each other. Beside the imports, `getBackend()` (tfjs's
// "which backend runs?") is called only inside backend/: everything else asks backend/ for a capability.
import path from "node:path";
import ts from "typescript";

export const LAYERS: readonly (readonly string[])[] = [
  ["errors.ts", "tensor-methods.ts", "own-key.ts", "html-escape.ts"],
  ["backend"],
  ["io", "tensor"],
  ["model"],
  ["load.ts", "probe", "verify"],
  ["intervene"],
  ["display"],
  ["workshop"],
  ["cli"],
  ["index.ts", "internal.ts"],
];

/** The area of a path under src/: its first folder, or the file itself when it lies directly in src/. */
export function areaOf(file: string): string {
  return file.split("/")[1];
}

export function layerOf(area: string): number {
  return LAYERS.findIndex((areas) => areas.includes(area));
}

export interface Violation {
  /** "src/a/x.ts -> src/b/y.ts" for an import, "getBackend() in src/a/x.ts" for a backend check. */
  key: string;
  why: string;
}

export interface ArchitectureReport {
  violations: Violation[];
  /** Areas of src/ that no layer names: a new folder must be placed in LAYERS before it is used. */
  unplaced: string[];
}

/** The src/ file an import specifier of `from` names, or null for a package. */
function resolveImport(from: string, specifier: string, files: ReadonlyMap<string, string>): string | null {
  if (!specifier.startsWith(".")) return null;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [base, `${base}.ts`, `${base}/index.ts`]) if (files.has(candidate)) return candidate;
  return `${base}.ts`; // a file this set lacks still has an area, which is all the check needs
}

function importSpecifiers(file: string, text: string): string[] {
  // preProcessFile sees `import`, `import type`, `export … from`, `import("…")` (in types too) and `require("…")`.
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName);
}

function getBackendCalls(file: string, text: string): number {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  let calls = 0;
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : "";
      if (name === "getBackend") calls++;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return calls;
}

/** Checks a set of files (path under src/ → source text) against LAYERS and the getBackend() rule. */
export function checkArchitecture(files: ReadonlyMap<string, string>): ArchitectureReport {
  const violations: Violation[] = [];
  const unplaced = new Set<string>();
  for (const [file, text] of files) {
    const area = areaOf(file);
    const layer = layerOf(area);
    if (layer < 0) unplaced.add(area);
    for (const specifier of importSpecifiers(file, text)) {
      const target = resolveImport(file, specifier, files);
      if (target === null || !target.startsWith("src/")) continue;
      const targetArea = areaOf(target);
      if (targetArea === area) continue;
      const targetLayer = layerOf(targetArea);
      if (targetLayer < 0) unplaced.add(targetArea);
      if (layer < 0 || targetLayer < 0 || targetLayer < layer) continue;
      const why =
        targetLayer === layer
          ? `${area} and ${targetArea} are peers (layer ${layer}) and must not import each other`
          : `${area} (layer ${layer}) imports ${targetArea} (layer ${targetLayer}), which lies above it`;
      violations.push({ key: `${file} -> ${target}`, why });
    }
    if (area !== "backend") {
      const calls = getBackendCalls(file, text);
      if (calls > 0) {
        violations.push({ key: `getBackend() in ${file}`, why: `${calls} getBackend() call(s) outside backend/: ask backend/ for a capability` });
      }
    }
  }
  const unique = new Map(violations.map((v) => [v.key, v]));
  return { violations: [...unique.values()].sort((a, b) => a.key.localeCompare(b.key)), unplaced: [...unplaced].sort() };
}
