// Prints an HTML report to PDF with headless Chromium, when one is installed (Debian: apt-get install chromium).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MissingFileError } from "../errors";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

export function findChromium(): string | null {
  const fromEnv = process.env.LMPROBE_CHROMIUM;
  if (fromEnv) return fs.existsSync(fromEnv) ? fromEnv : null;
  return CANDIDATES.find((c) => fs.existsSync(c)) ?? null;
}

/** Writes `pdf` from the report file `html`. Throws a typed error naming the package when no Chromium is found. */
export function printPdf(html: string, pdf: string): void {
  const chromium = findChromium();
  if (!chromium) {
    throw new MissingFileError(process.env.LMPROBE_CHROMIUM ?? CANDIDATES[0], "Chromium (to print the PDF)", "install Debian's chromium package (apt-get install chromium), or set LMPROBE_CHROMIUM to a Chrome or Chromium binary");
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-pdf-"));
  const result = spawnSync(
    chromium,
    [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--no-first-run", `--user-data-dir=${profile}`, "--no-pdf-header-footer", "--virtual-time-budget=15000",
      `--print-to-pdf=${path.resolve(pdf)}`, `file://${path.resolve(html)}`,
    ],
    { encoding: "utf8", timeout: 180_000 },
  );
  fs.rmSync(profile, { recursive: true, force: true });
  if (result.status !== 0 || !fs.existsSync(pdf)) {
    throw new MissingFileError(path.resolve(pdf), "the PDF Chromium should have written", `Chromium exited ${result.status}: ${(result.stderr ?? "").split("\n").slice(-3).join(" ")}`);
  }
}
