// `lmprobe uninstall-kernel`: removes what install-kernel wrote (and only that, unless forced), through the CLI too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { installKernel } from "../../src/cli/install-kernel";
import { parseUninstallArgs, uninstallKernel } from "../../src/cli/uninstall-kernel";
import { KernelInstallError } from "../../src/errors";

const ROOT = path.resolve(__dirname, "..", "..");

test("uninstall removes the kernelspec install wrote, and leaves the package its link points to", () => {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));
  const location = { kind: "prefix" as const, dir: prefix };
  const { specDir } = installKernel({ location, force: false, name: "lmprobe" });
  const beside = installKernel({ location, force: false, name: "lmprobe-other" }).specDir;
  assert.equal(uninstallKernel({ location, force: false, name: "lmprobe" }), specDir);
  assert.equal(existsSync(specDir), false);
  assert.ok(existsSync(path.join(beside, "kernel.json")), "another kernel beside it stays");
  assert.ok(existsSync(path.join(ROOT, "kernel", "launch.js")), "the package behind node_path/lmprobe stays");
  assert.throws(() => uninstallKernel({ location, force: false, name: "lmprobe" }), (err: unknown) => err instanceof KernelInstallError && /no kernel named "lmprobe"/.test((err as Error).message));
});

test("a kernel lmprobe did not write is refused unless forced", () => {
  const prefix = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));
  const specDir = path.join(prefix, "share", "jupyter", "kernels", "python3");
  mkdirSync(specDir, { recursive: true });
  writeFileSync(path.join(specDir, "kernel.json"), JSON.stringify({ argv: ["python3", "-m", "ipykernel_launcher"], display_name: "Python 3" }));
  const location = { kind: "prefix" as const, dir: prefix };
  assert.throws(() => uninstallKernel({ location, force: false, name: "python3" }), /was not installed by lmprobe\n  fix: pass --force/);
  assert.ok(existsSync(specDir));
  uninstallKernel({ location, force: true, name: "python3" });
  assert.equal(existsSync(specDir), false);
});

test("the CLI: --prefix and --name, --user through JUPYTER_DATA_DIR, and a clear error for a missing kernel", () => {
  const bin = path.join(ROOT, "bin", "lmprobe.js");
  const prefix = mkdtempSync(path.join(os.tmpdir(), "lmprobe-kernel-"));
  execFileSync(process.execPath, [bin, "install-kernel", "--prefix", prefix, "--name", "lp"], { encoding: "utf8" });
  const out = execFileSync(process.execPath, [bin, "uninstall-kernel", "--prefix", prefix, "--name", "lp"], { encoding: "utf8" });
  assert.match(out, /Kernel "lp" removed from .*kernels\/lp/);
  assert.equal(existsSync(path.join(prefix, "share", "jupyter", "kernels", "lp")), false);

  const data = mkdtempSync(path.join(os.tmpdir(), "lmprobe-jupyter-data-"));
  const env = { ...process.env, JUPYTER_DATA_DIR: data };
  execFileSync(process.execPath, [bin, "install-kernel", "--user"], { encoding: "utf8", env });
  assert.ok(existsSync(path.join(data, "kernels", "lmprobe", "kernel.json")));
  execFileSync(process.execPath, [bin, "uninstall-kernel", "--user"], { encoding: "utf8", env });
  assert.equal(existsSync(path.join(data, "kernels", "lmprobe")), false);

  const again = spawnSync(process.execPath, [bin, "uninstall-kernel", "--user"], { encoding: "utf8", env });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /lmprobe uninstall-kernel: .*no kernel named "lmprobe" is installed here\n  fix: check --name/);
});

test("argument parsing mirrors install-kernel's", () => {
  assert.deepEqual(parseUninstallArgs([]), { location: { kind: "user" }, force: false, name: "lmprobe" });
  assert.deepEqual(parseUninstallArgs(["--sys-prefix", "--python", "/usr/bin/python3", "--name", "x"]), { location: { kind: "sys-prefix", python: "/usr/bin/python3" }, force: false, name: "x" });
  assert.throws(() => parseUninstallArgs(["--user", "--prefix", "/x"]), /given more than once/);
  assert.throws(() => parseUninstallArgs(["--bogus"]), /"--bogus" is not an option of uninstall-kernel/);
});
