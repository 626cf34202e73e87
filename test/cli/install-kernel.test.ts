import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readlinkSync, writeFileSync, realpathSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { installKernel, parseArgs, packageRoot, DISPLAY_NAME } from "../../src/cli/install-kernel";
import { KernelInstallError } from "../../src/errors";

const ROOT = path.resolve(__dirname, "..", "..");

test("install into a prefix writes a kernelspec running this package's launcher, with the resolution folders", () => {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));
  const { specDir, status } = installKernel({ location: { kind: "prefix", dir: prefix }, force: false, name: "lmprobe" });
  assert.equal(status, "installed");
  assert.equal(specDir, path.join(prefix, "share", "jupyter", "kernels", "lmprobe"));
  const spec = JSON.parse(readFileSync(path.join(specDir, "kernel.json"), "utf8"));
  assert.equal(spec.display_name, DISPLAY_NAME);
  assert.deepEqual(spec.argv, [process.execPath, path.join(ROOT, "kernel", "launch.js"), "--config-path", "{connection_file}"]);
  assert.equal(realpathSync(path.resolve(specDir, "node_path", readlinkSync(path.join(specDir, "node_path", "lmprobe")))), realpathSync(ROOT));
  assert.deepEqual(spec.env.NODE_PATH.split(path.delimiter), [path.join(specDir, "node_path"), path.join(packageRoot(), "node_modules")]);
});

test("installing twice is a no-op; a different kernel of the same name is refused unless forced", () => {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));
  const options = { location: { kind: "prefix" as const, dir: prefix }, force: false, name: "lmprobe" };
  const { specDir } = installKernel(options);
  assert.equal(installKernel(options).status, "unchanged");
  const other = JSON.stringify({ argv: ["python3", "-m", "ipykernel"], display_name: "Someone else" });
  writeFileSync(path.join(specDir, "kernel.json"), other);
  assert.throws(() => installKernel(options), (err: unknown) => err instanceof KernelInstallError && /a different kernel named "lmprobe".*Someone else.*\n  fix: pass --force/s.test((err as Error).message));
  assert.equal(readFileSync(path.join(specDir, "kernel.json"), "utf8"), other, "left untouched");
  assert.equal(installKernel({ ...options, force: true }).status, "replaced");
  assert.equal(JSON.parse(readFileSync(path.join(specDir, "kernel.json"), "utf8")).display_name, DISPLAY_NAME);
});

test("argument parsing: one location, named errors", () => {
  assert.deepEqual(parseArgs([]), { location: { kind: "user" }, force: false, name: "lmprobe" });
  assert.deepEqual(parseArgs(["--prefix", "/x", "--force"]), { location: { kind: "prefix", dir: "/x" }, force: true, name: "lmprobe" });
  assert.deepEqual(parseArgs(["--sys-prefix", "--python", "/usr/bin/python3"]), { location: { kind: "sys-prefix", python: "/usr/bin/python3" }, force: false, name: "lmprobe" });
  assert.throws(() => parseArgs(["--user", "--prefix", "/x"]), /given more than once/);
  assert.throws(() => parseArgs(["--prefix"]), /"--prefix" needs a value/);
  assert.throws(() => parseArgs(["--name", "a/b"]), /not a valid kernel name/);
  assert.throws(() => parseArgs(["--bogus"]), /"--bogus" is not an option/);
});
