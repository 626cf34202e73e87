// tfjs-core's gradient definitions, registered once before the first gradient. tfjs-core's CommonJS build (the one
// lmprobe and tslab load) ships none: they exist only as ES modules, which Node cannot require. The build bundles
// them into dist/vendor/tfjs-core-gradients.cjs (scripts/vendor-tfjs-gradients.mjs); they register into tfjs-core's
// global gradient registry and run on its global engine, so they serve lmprobe's copy of tfjs-core.
import { existsSync } from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { LmprobeError } from "../errors";
import { registerWasmSegmentSum } from "./kernels/segment-sum-wasm";
import { registerExtraGradients } from "./extra-gradients";

const VENDORED = "dist/vendor/tfjs-core-gradients.cjs";

/** Registers tfjs-core's gradients unless they already are (e.g. by @tensorflow/tfjs). Throws when it cannot. */
export function ensureTfjsGradients(): void {
  registerWasmSegmentSum(); // what gather's gradient needs and tfjs-wasm lacks
  registerExtraGradients(); // what the forward pass needs and tfjs-core lacks (TopK)
  if (tf.getGradient("Sum") && tf.getGradient("BatchMatMul")) return;
  const root = packageRoot();
  const file = path.join(root, VENDORED);
  if (!existsSync(file) || versionOf(file) !== tf.version_core) buildFromSource(root, file);
  require(file);
  if (!tf.getGradient("Sum")) throw new LmprobeError(`${file} registered no gradients`, "rebuild lmprobe (npm run build)");
}

function versionOf(file: string): string | undefined {
  return (require(file) as { tfjsCoreVersion?: string }).tfjsCoreVersion;
}

/** A checkout running from source (tests through tsx) without a build: bundle them now, as the build would. */
function buildFromSource(root: string, file: string): void {
  const script = path.join(root, "scripts/vendor-tfjs-gradients.mjs");
  let ok = false;
  if (existsSync(script)) {
    const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
    ok = spawnSync(process.execPath, [script, file], { stdio: "ignore" }).status === 0;
    delete require.cache[file];
  }
  if (!ok || !existsSync(file) || versionOf(file) !== tf.version_core) {
    throw new LmprobeError(
      `tfjs-core ${tf.version_core}'s gradient definitions are not available (${file} is missing or was built from another tfjs-core version)`,
      "run `npm run build` in the lmprobe package (it bundles them with esbuild)",
    );
  }
}

function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if ((existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "scripts"))) || existsSync(path.join(dir, VENDORED))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, "../..");
    dir = up;
  }
}
