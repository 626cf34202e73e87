// What the CPU benchmark scripts (cpu-vs-torch, cpu-malloc, ab) share: the repository root, `--name value`
// options, and the median they report.
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file's folder's parent). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The value after `--name` on the command line, or `fallback` when it is absent. */
export function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** The middle value (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
