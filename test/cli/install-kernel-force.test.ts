// install-kernel writes through nothing: --force leaves exactly the kernel's files, and a kernel directory
// that is a symbolic link is refused unless forced (then the link is replaced, its target left alone).
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { DISPLAY_NAME, installKernel } from "../../src/cli/install-kernel";
import { KernelInstallError } from "../../src/errors";

function kernels(): { prefix: string; dir: string } {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));
  return { prefix, dir: path.join(prefix, "share", "jupyter", "kernels") };
}

test("--force replaces the kernel directory's contents exactly", () => {
  const { prefix, dir } = kernels();
  const specDir = path.join(dir, "lmprobe");
  mkdirSync(path.join(specDir, "resources"), { recursive: true });
  writeFileSync(path.join(specDir, "kernel.json"), JSON.stringify({ argv: ["python3"], display_name: "Other" }));
  writeFileSync(path.join(specDir, "logo-64x64.png"), "foreign");
  writeFileSync(path.join(specDir, "resources", "x"), "foreign");
  const options = { location: { kind: "prefix" as const, dir: prefix }, force: true, name: "lmprobe" };
  assert.equal(installKernel(options).status, "replaced");
  assert.deepEqual(readdirSync(specDir).sort(), ["kernel.json", "node_path"]);
  assert.deepEqual(readdirSync(path.join(specDir, "node_path")), ["lmprobe"]);
  assert.equal(JSON.parse(readFileSync(path.join(specDir, "kernel.json"), "utf8")).display_name, DISPLAY_NAME);
  // our own kernel plus a foreign file: forced, it is cleaned; the second forced install changes nothing
  writeFileSync(path.join(specDir, "stray"), "x");
  assert.equal(installKernel(options).status, "replaced");
  assert.ok(!existsSync(path.join(specDir, "stray")));
  assert.equal(installKernel(options).status, "unchanged");
  assert.deepEqual(readdirSync(dir), ["lmprobe"], "no temporary directory left beside it");
});

test("a kernel directory that is a symbolic link is refused unless forced; forced, the link is replaced and its target untouched", () => {
  const { prefix, dir } = kernels();
  const target = mkdtempSync(path.join(os.tmpdir(), "lmprobe-elsewhere-"));
  writeFileSync(path.join(target, "precious.txt"), "keep me");
  mkdirSync(dir, { recursive: true });
  const specDir = path.join(dir, "lmprobe");
  symlinkSync(target, specDir);
  const options = { location: { kind: "prefix" as const, dir: prefix }, force: false, name: "lmprobe" };
  assert.throws(() => installKernel(options), (e: any) => e instanceof KernelInstallError && /symbolic link/.test(e.message) && e.message.includes(target));
  assert.deepEqual(readdirSync(target), ["precious.txt"], "nothing written through the link");
  assert.equal(installKernel({ ...options, force: true }).status, "replaced");
  assert.ok(lstatSync(specDir).isDirectory() && !lstatSync(specDir).isSymbolicLink());
  assert.deepEqual(readdirSync(target), ["precious.txt"]);
  assert.equal(readFileSync(path.join(target, "precious.txt"), "utf8"), "keep me");
});
