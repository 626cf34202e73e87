// The engine never branches on which backend runs it: outside src/backend/ nothing calls tf.getBackend(), and the
// engine's layers (io, model, tensor, probe, intervene, display, verify) compare no value with a backend's name.
// Backend-specific paths go through backend/capabilities.ts (capability("…") and the fused kernels, which return
// null where the active backend has none).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const SRC = path.resolve(__dirname, "../../src");
const ENGINE_LAYERS = ["io", "model", "tensor", "probe", "intervene", "display", "verify"];
const NAMES = "wasm|webgpu|webgl|cpu|cpu-native|tensorflow";
const COMPARISON = new RegExp(`[!=]==?\\s*["'\`](${NAMES})["'\`]|["'\`](${NAMES})["'\`]\\s*[!=]==?|case\\s+["'\`](${NAMES})["'\`]`);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith(".ts") ? [full] : [];
  });
}

/** Lines of `source` that break the rule, as "line: text" (comments are skipped). */
export function backendBranches(source: string, inEngineLayer: boolean): string[] {
  return source.split("\n").flatMap((line, i) => {
    const code = line.replace(/\/\/.*$/, "").trim();
    if (code.startsWith("*") || code.startsWith("/*")) return [];
    const bad = /\bgetBackend\s*\(/.test(code) || (inEngineLayer && COMPARISON.test(code));
    return bad ? [`${i + 1}: ${code}`] : [];
  });
}

test("the rule catches what it must", () => {
  assert.equal(backendBranches(`if (tf.getBackend() === "wasm") x();`, false).length, 1);
  assert.equal(backendBranches(`const b = tf.getBackend();`, false).length, 1);
  assert.equal(backendBranches(`return name !== 'webgpu';`, true).length, 1);
  assert.equal(backendBranches(`switch (b) { case "cpu-native": }`, true).length, 1);
  assert.equal(backendBranches(`if (capability("untransposedMatMul")) x(); // tf.getBackend() === "wasm" once`, true).length, 0);
});

test("no tf.getBackend() outside src/backend/, no backend-name comparison in the engine's layers", () => {
  const offenders: string[] = [];
  for (const file of files(SRC)) {
    const rel = path.relative(SRC, file);
    if (rel.startsWith("backend" + path.sep)) continue;
    const layer = rel.split(path.sep)[0];
    for (const hit of backendBranches(readFileSync(file, "utf8"), ENGINE_LAYERS.includes(layer))) offenders.push(`src/${rel}:${hit}`);
  }
  assert.deepEqual(offenders, [], "ask backend/capabilities.ts (capability(\"…\"), fused kernels) instead of comparing backend names");
});
