// Every import in src/ goes down the layers of test/architecture/layers.ts (type-only ones included), and only
// backend/ asks tfjs which backend runs. Known violations that other work removes are listed below; the list only
// shrinks: a new violation fails, and so does an entry that no longer occurs (delete it).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { checkArchitecture, layerOf, areaOf } from "./layers";

const ROOT = path.resolve(__dirname, "..", "..");

const KNOWN_VIOLATIONS: readonly string[] = [
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith(".ts") ? [full] : [];
  });
}

function srcFileSet(): Map<string, string> {
  const files = sourceFiles(path.join(ROOT, "src"));
  return new Map(files.map((f) => [path.relative(ROOT, f).split(path.sep).join("/"), readFileSync(f, "utf8")]));
}

test("every area of src/ has a layer", () => {
  const report = checkArchitecture(srcFileSet());
  assert.deepEqual(report.unplaced, [], "place each new area in LAYERS (test/architecture/layers.ts)");
});

test("src/ imports only downwards, and asks for the backend only in backend/, apart from the known list", () => {
  const report = checkArchitecture(srcFileSet());
  const found = new Set(report.violations.map((v) => v.key));
  const fresh = report.violations.filter((v) => !KNOWN_VIOLATIONS.includes(v.key)).map((v) => `${v.key}: ${v.why}`);
  assert.deepEqual(fresh, [], "new violations of the layering (see test/architecture/layers.ts)");
  const gone = KNOWN_VIOLATIONS.filter((k) => !found.has(k));
  assert.deepEqual(gone, [], "these known violations are fixed: delete them from KNOWN_VIOLATIONS");
});

test("the checker catches each kind of violation in a synthetic file set", () => {
  const files = new Map<string, string>([
    ["src/io/config.ts", 'import type { LanguageModel } from "../model/model";\nexport const a = 1;'],
    ["src/io/hub.ts", 'export { tokenSpan } from "../intervene/token-span";'],
    ["src/io/lazy.ts", 'export async function f() { return import("../probe/logit-lens"); }'],
    ["src/io/typeof.ts", 'export type T = import("../display/chart").Chart;'],
    ["src/io/required.ts", 'const x = require("../tensor/softmax");'],
    ["src/model/model.ts", 'import { readConfig } from "../io/config";\nimport { ArgumentError } from "../errors";'],
    ["src/model/forward.ts", 'import * as tf from "@tensorflow/tfjs-core";\nexport const gpu = () => tf.getBackend() === "webgpu";'],
    ["src/backend/select.ts", 'import * as tf from "@tensorflow/tfjs-core";\nexport const name = () => tf.getBackend();'],
    ["src/probe/logit-lens.ts", 'import { LanguageModel } from "../model";\n// tf.getBackend() in a comment is not a call'],
    ["src/verify/verify.ts", 'import { logitLens } from "../probe/logit-lens";'],
    ["src/display/chart.ts", 'import type { VerifyResult } from "../verify/verify";'],
    ["src/newarea/thing.ts", 'import { x } from "../model/model";'],
    ["src/model/index.ts", 'export * from "./model";'],
  ]);
  const report = checkArchitecture(files);
  assert.deepEqual(
    report.violations.map((v) => v.key),
    [
      "getBackend() in src/model/forward.ts",
      "src/io/config.ts -> src/model/model.ts", // type-only, still against the direction
      "src/io/hub.ts -> src/intervene/token-span.ts", // re-export
      "src/io/lazy.ts -> src/probe/logit-lens.ts", // dynamic import
      "src/io/required.ts -> src/tensor/softmax.ts", // peers
      "src/io/typeof.ts -> src/display/chart.ts", // import() type
      "src/verify/verify.ts -> src/probe/logit-lens.ts", // peers
    ],
  );
  assert.deepEqual(report.unplaced, ["newarea"]);
});

test("areas and layers: files directly in src/ are their own area; display lies above probe, intervene and verify", () => {
  assert.equal(areaOf("src/load.ts"), "load.ts");
  assert.equal(areaOf("src/model/components/attention.ts"), "model");
  for (const below of ["probe", "intervene", "verify", "model", "io", "tensor", "backend"]) {
    assert.ok(layerOf("display") > layerOf(below), `display above ${below}`);
  }
  assert.ok(layerOf("io") < layerOf("model") && layerOf("model") < layerOf("probe") && layerOf("cli") > layerOf("display"));
});
