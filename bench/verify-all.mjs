#!/usr/bin/env node
// `lmprobe verify` on every fixture in one process (one backend start-up instead of one per fixture), one line
// per fixture: name, PASS/FAIL and the worst tolerance ratio. Exit status 0 only when all pass.
//   node --import tsx bench/verify-all.mjs [--backend webgpu] [--src] [--fixtures DIR]
import { createRequire } from "node:module";
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const argv = process.argv.slice(2);
const backend = argv.includes("--backend") ? argv[argv.indexOf("--backend") + 1] : "webgpu";
const { main } = require(path.join(root, argv.includes("--src") ? "src/cli/main.ts" : "dist/cjs/cli/main.js"));

// --fixtures DIR: another tree of fixtures laid out as test/fixtures (tiny/, generated/), such as the bf16 copies
// that scripts/fixtures/make_bf16_fixtures.py writes; the demo is then left out.
const fixturesRoot = argv.includes("--fixtures") ? path.resolve(argv[argv.indexOf("--fixtures") + 1]) : path.join(root, "test/fixtures");
const fixtures = [];
for (const group of ["tiny", "generated"]) {
  const dir = path.join(fixturesRoot, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir).sort()) {
    if (existsSync(path.join(dir, name, "reference.safetensors"))) fixtures.push([`${group}/${name}`, [path.join(dir, name)]]);
  }
}
// Fixtures left out of the tree (bench/gpu/verify.sh splits them over two device calls) are not counted.
const demoReference = path.join(root, "test/fixtures/demo-capital/reference.safetensors");
if (!argv.includes("--fixtures") && existsSync(demoReference) && existsSync(path.join(root, "models/lmprobe-demo"))) {
  fixtures.push(["demo-capital", ["demo", "--reference", demoReference]]);
}

let failed = 0;
for (const [name, args] of fixtures) {
  const lines = [];
  const log = console.log;
  console.log = (...a) => lines.push(a.join(" "));
  let code;
  try {
    code = await main(["verify", ...args, "--backend", backend, "--json"]);
  } catch (err) {
    code = 1;
    lines.push(String(err?.message ?? err));
  } finally {
    console.log = log;
  }
  let summary = lines.join(" ").slice(0, 300);
  try {
    const text = lines.join("\n");
    const doc = JSON.parse(text.slice(text.indexOf("{")));
    const ratios = Object.values(doc.tensors ?? {}).map((t) => t.worstRatio).filter((r) => typeof r === "number");
    summary = `worst ratio ${ratios.length ? Math.max(...ratios).toFixed(3) : "?"}`;
  } catch {
    // not JSON: keep the text
  }
  if (code !== 0) failed++;
  console.log(`${name}: ${code === 0 ? "PASS" : "FAIL"} (${summary})`);
}
// With LMPROBE_MATRIX_UNITS set: how many products the matrix units ran (0 where the adapter has none).
if (process.env.LMPROBE_MATRIX_UNITS) {
  const units = require(path.join(root, argv.includes("--src") ? "src/backend/kernels/matrix-units.ts" : "dist/cjs/backend/kernels/matrix-units.js"));
  console.log(`matrix units: ${units.matrixUnits.shape ? `${units.matrixUnitUse.products} products on them (${units.matrixUnitUse.joint} of weights side by side)` : `none (${units.matrixUnits.reason})`}`);
}
console.log(`${fixtures.length - failed}/${fixtures.length} fixtures pass on ${backend}`);
process.exit(failed ? 1 : 0);
