// The public API (src/index.ts) is curated in groups and documented name by name; "lmprobe/internal" holds
// everything, the public names included; the README's API list and hook list are what the generator writes; the
// package's two entries each have a CommonJS and an ES module face that share one implementation.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { readPublicApi } from "../../scripts/docs/public-api";
import { README, withGeneratedSections } from "../../scripts/docs/readme-sections";

const ROOT = path.resolve(__dirname, "..", "..");

test("every public name has a doc comment", () => {
  const undocumented = readPublicApi()
    .flatMap((g) => g.names)
    .filter((n) => n.doc.trim() === "")
    .map((n) => `${n.name} (${n.declaredIn})`);
  assert.deepEqual(undocumented, [], "write a /** … */ comment on each of these declarations");
});

test("the public API is grouped as the README says, and leaves the internals out", () => {
  const groups = readPublicApi();
  assert.deepEqual(
    groups.map((g) => g.title),
    ["Load", "Run, hooks and cache", "Tensor utilities", "Probes", "Gradients", "Interventions", "Display", "Verify", "CLI helpers", "Sharing", "Teaching", "Errors"],
  );
  for (const g of groups) assert.ok(g.about.length > 0 && g.names.length > 0, `group ${g.title} says what it is for and exports something`);
  const names = new Set(groups.flatMap((g) => g.names.map((n) => n.name)));
  assert.equal(names.size, groups.flatMap((g) => g.names).length, "no name in two groups");
  for (const internal of ["planMatMul", "fusedNorm", "logitStats", "escapeHtml", "WASM_HEAP_BYTES", "SafetensorsFile", "buildModel"]) {
    assert.ok(!names.has(internal), `${internal} is internal`);
  }
});

test('"lmprobe/internal" exports every public name too', () => {
  const publicNames = readPublicApi().flatMap((g) => g.names.map((n) => n.name));
  // Type-only names are checked through the compiler: the internal entry's exports as TypeScript sees them.
  const ts = require("typescript") as typeof import("typescript");
  const entry = path.join(ROOT, "src", "internal.ts");
  const program = ts.createProgram([entry], { strict: true, module: ts.ModuleKind.CommonJS, esModuleInterop: true, skipLibCheck: true });
  const checker = program.getTypeChecker();
  const internal = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)!)!).map((s) => s.name));
  assert.deepEqual(publicNames.filter((n) => !internal.has(n)), []);
});

test("the README's public API list and hook list are the generated ones", () => {
  const readme = readFileSync(README, "utf8");
  assert.ok(readme === withGeneratedSections(readme), "README.md is out of date: run `npm run docs:readme`");
});

test("the doc check catches an undocumented name, and a group heading is required", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-api-"));
  const things = ["/** Documented. */", "export function documented(): void {}", "export function bare(): void {}", "export interface Bare { a: number }", ""];
  writeFileSync(path.join(dir, "things.ts"), things.join("\n"));
  writeFileSync(path.join(dir, "index.ts"), '// ## Things\n// What they are for.\nexport { documented, bare, type Bare } from "./things";\n');
  const [group] = readPublicApi(path.join(dir, "index.ts"));
  assert.equal(group.title, "Things");
  assert.deepEqual(
    group.names.map((n) => [n.name, n.kind, n.doc]),
    [
      ["documented", "function", "Documented."],
      ["bare", "function", ""],
      ["Bare", "type", ""],
    ],
  );
  writeFileSync(path.join(dir, "headless.ts"), 'export { documented } from "./things";\n');
  assert.throws(() => readPublicApi(path.join(dir, "headless.ts")), /group heading/);
  writeFileSync(path.join(dir, "star.ts"), '// ## All\n// Everything.\nexport * from "./things";\n');
  assert.throws(() => readPublicApi(path.join(dir, "star.ts")), /name them/);
});

test("both entries have CommonJS and ES module faces that share one implementation", async () => {
  if (!existsSync(path.join(ROOT, "dist", "cjs", "internal.js"))) {
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "build.mjs"), "--no-docs"], { cwd: ROOT, stdio: "inherit" });
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
  for (const entry of [".", "./internal"]) {
    for (const face of ["types", "import", "require"]) assert.ok(existsSync(path.join(ROOT, pkg.exports[entry][face])), `${entry} ${face}`);
  }
  // Resolved by package name, as a notebook resolves it (the package links itself under node_modules/lmprobe).
  const probe = [
    'import { createRequire } from "node:module";',
    "const require = createRequire(import.meta.url);",
    'const [esm, esmInternal] = [await import("lmprobe"), await import("lmprobe/internal")];',
    'const [cjs, cjsInternal] = [require("lmprobe"), require("lmprobe/internal")];',
    "console.log(JSON.stringify({",
    "  shared: esm.loadModel === cjs.loadModel && esmInternal.loadModel === cjs.loadModel && cjsInternal.loadModel === cjs.loadModel,",
    "  tf: esm.softmax === cjsInternal.softmax && esmInternal.planMatMul === cjsInternal.planMatMul,",
    '  publicHasInternals: "planMatMul" in esm || "escapeHtml" in cjs,',
    "}));",
  ].join("\n");
  const dir = mkdtempSync(path.join(os.tmpdir(), "lmprobe-faces-"));
  const { symlinkSync, mkdirSync } = await import("node:fs");
  mkdirSync(path.join(dir, "node_modules"));
  symlinkSync(ROOT, path.join(dir, "node_modules", "lmprobe"), "dir");
  writeFileSync(path.join(dir, "probe.mjs"), probe);
  const out = JSON.parse(execFileSync(process.execPath, [path.join(dir, "probe.mjs")], { cwd: dir, encoding: "utf8" }));
  assert.deepEqual(out, { shared: true, tf: true, publicHasInternals: false });
});
