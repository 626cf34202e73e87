// Finds lmprobe's own package directory (the one whose package.json is named "lmprobe") by walking up
// from this file, so the embedded demo model is found from src/ (tests, tsx) and from dist/ alike.
import fs from "node:fs";
import path from "node:path";
import { MissingFileError } from "../errors";

let cached: string | null = null;

export function packageRoot(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest)) {
      try {
        if (JSON.parse(fs.readFileSync(manifest, "utf8")).name === "lmprobe") return (cached = dir);
      } catch {
        // an unreadable package.json of some other package: keep walking up
      }
    }
    if (path.dirname(dir) === dir) {
      throw new MissingFileError(path.join(__dirname, "package.json"), 'lmprobe\'s package.json (name "lmprobe")', "reinstall lmprobe; its files were moved out of the package");
    }
  }
}

/** Directory of the embedded demo model (models/lmprobe-demo in the package). */
export function demoModelDir(): string {
  return path.join(packageRoot(), "models", "lmprobe-demo");
}
