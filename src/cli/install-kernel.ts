// `lmprobe install-kernel [--user | --prefix DIR | --sys-prefix] [--force] [--name NAME]`: registers the
// "TypeScript (lmprobe)" Jupyter kernel, which runs this package's tslab on this package's dist build.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync, readlinkSync, lstatSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ArgumentError, KernelInstallError } from "../errors";
import { tunedMallocEnv } from "../backend/native/malloc-tuning";

export const KERNEL_NAME = "lmprobe";
export const DISPLAY_NAME = "TypeScript (lmprobe)";

/** The package root (holds package.json, kernel/ and dist/), from src/cli or dist/cjs/cli alike. */
export function packageRoot(): string {
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "kernel", "launch.js")) && existsSync(path.join(d, "package.json"))) return d;
    if (path.dirname(d) === d) throw new KernelInstallError(__dirname, "cannot find the lmprobe package root (kernel/launch.js)", "reinstall lmprobe");
  }
}

export interface InstallOptions {
  location: { kind: "user" } | { kind: "prefix"; dir: string } | { kind: "sys-prefix"; python: string };
  force: boolean;
  name: string;
  /** The Node binary the kernel runs (default: the one running now). */
  node?: string;
}

/** Jupyter's per-user data directory, as jupyter_core computes it. */
export function userDataDir(env = process.env): string {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  if (process.platform === "darwin") return path.join(os.homedir(), "Library", "Jupyter");
  if (process.platform === "win32") return path.join(env.APPDATA ?? path.join(os.homedir(), "AppData", "Roaming"), "jupyter");
  return path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), ".local", "share"), "jupyter");
}

export function kernelsDir(location: InstallOptions["location"]): string {
  switch (location.kind) {
    case "user":
      return path.join(userDataDir(), "kernels");
    case "prefix":
      return path.join(path.resolve(location.dir), "share", "jupyter", "kernels");
    case "sys-prefix": {
      let prefix: string;
      try {
        prefix = execFileSync(location.python, ["-c", "import sys; print(sys.prefix)"], { encoding: "utf8" }).trim();
      } catch (err) {
        throw new KernelInstallError("--sys-prefix", `could not run ${location.python} to find sys.prefix (${(err as Error).message.split("\n")[0]})`, "pass --python <the Python that runs Jupyter>, or use --user or --prefix DIR");
      }
      return path.join(prefix, "share", "jupyter", "kernels");
    }
  }
}

/** The kernel.json this installation writes. */
export function kernelSpec(root: string, specDir: string, node: string, platform: NodeJS.Platform = process.platform): Record<string, unknown> {
  const tuned = tunedMallocEnv(process.env, platform);
  return {
    argv: [node, path.join(root, "kernel", "launch.js"), "--config-path", "{connection_file}"],
    display_name: DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "signal",
    // The link folder makes `lmprobe` resolvable from any directory; the package's node_modules makes its
    // dependencies (@tensorflow/tfjs-core, arquero) resolvable too, as the same instances lmprobe uses.
    // GLIBC_TUNABLES: the CPU path's malloc settings, read by glibc when the kernel's process starts (see
    // backend/native/malloc-tuning.ts); only on Linux.
    env: {
      NODE_PATH: [path.join(specDir, "node_path"), path.join(root, "node_modules")].join(path.delimiter),
      ...(tuned ? { GLIBC_TUNABLES: tuned } : {}),
    },
    metadata: { lmprobe: { package: root } },
  };
}

export interface InstallResult {
  specDir: string;
  status: "installed" | "unchanged" | "replaced";
}

/**
 * Writes the kernelspec; idempotent; refuses to replace a different kernel of the same name unless forced.
 * The kernel directory is written through nothing: a symbolic link in its place is refused unless forced (then
 * the link itself is replaced, its target left alone), and a forced install leaves exactly kernel.json and
 * node_path/lmprobe, built in a sibling directory and renamed into place.
 */
export function installKernel(options: InstallOptions): InstallResult {
  const root = packageRoot();
  const specDir = path.join(kernelsDir(options.location), options.name);
  const specFile = path.join(specDir, "kernel.json");
  const spec = kernelSpec(root, specDir, options.node ?? process.execPath);
  const text = `${JSON.stringify(spec, null, 2)}\n`;
  const link = path.join(specDir, "node_path", "lmprobe");
  let status: InstallResult["status"] = "installed";
  const present = lstatSync(specDir, { throwIfNoEntry: false });
  if (present?.isSymbolicLink() && !options.force) {
    throw new KernelInstallError(specDir, `is a symbolic link (to ${readlinkSync(specDir)}); installing would write into its target`, "remove the link, or pass --force to replace the link itself with a kernel directory (its target is left untouched)");
  }
  if (present && !present.isSymbolicLink() && !present.isDirectory() && !options.force) {
    throw new KernelInstallError(specDir, "is a file, not a kernel directory", "remove it, or pass --force to replace it");
  }
  if (present?.isDirectory() && existsSync(specFile)) {
    const current = readFileSync(specFile, "utf8");
    const linkOk = existsSync(link) && lstatSync(link).isSymbolicLink() && path.resolve(specDir, "node_path", readlinkSync(link)) === root;
    const exact = readdirSync(specDir).sort().join() === "kernel.json,node_path" && readdirSync(path.join(specDir, "node_path")).join() === "lmprobe";
    if (sameSpec(current, spec) && linkOk && (exact || !options.force)) return { specDir, status: "unchanged" };
    if (!options.force) {
      throw new KernelInstallError(
        specDir,
        `a different kernel named "${options.name}" is installed here (${describeSpec(current)})`,
        "pass --force to replace it, or --name <other> to install beside it",
      );
    }
    status = "replaced";
  } else if (present && !(present.isDirectory() && readdirSync(specDir).length === 0)) {
    status = "replaced";
  }
  // Built beside the target and renamed into place: a forced install leaves no foreign file behind, and an
  // interrupted one leaves the previous kernel as it was.
  const parent = path.dirname(specDir);
  mkdirSync(parent, { recursive: true });
  const building = mkdtempSync(path.join(parent, `.${options.name}.installing-`));
  try {
    mkdirSync(path.join(building, "node_path"));
    writeFileSync(path.join(building, "kernel.json"), text);
    symlinkSync(root, path.join(building, "node_path", "lmprobe"), process.platform === "win32" ? "junction" : "dir");
    if (present) {
      // rename moves a symbolic link itself, never its target; rm then removes the link, not what it points to.
      const aside = `${building}.old`;
      renameSync(specDir, aside);
      renameSync(building, specDir);
      rmSync(aside, { recursive: true, force: true });
    } else {
      renameSync(building, specDir);
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return { specDir, status };
}

function sameSpec(text: string, spec: Record<string, unknown>): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(spec);
  } catch {
    return false;
  }
}

function describeSpec(text: string): string {
  try {
    const s = JSON.parse(text) as { display_name?: string; argv?: string[] };
    return `"${s.display_name ?? "?"}" running ${(s.argv ?? []).slice(0, 2).join(" ")}`;
  } catch {
    return "kernel.json is not valid JSON";
  }
}

const USAGE = `usage: lmprobe install-kernel [--user | --prefix DIR | --sys-prefix [--python PY]] [--force] [--name NAME]

Registers the Jupyter kernel "${DISPLAY_NAME}" (default: for the current user).
  --user          ~/.local/share/jupyter/kernels (or $JUPYTER_DATA_DIR/kernels)
  --prefix DIR    DIR/share/jupyter/kernels
  --sys-prefix    the kernels folder of the Python that runs Jupyter (--python, default python3)
  --force         replace a different kernel of the same name
  --name NAME     kernel name (default ${KERNEL_NAME})`;

export function parseArgs(args: string[]): InstallOptions | "help" {
  return parseKernelArgs(args, "install-kernel", USAGE);
}

/** The options install-kernel and uninstall-kernel share: one location, --force, --name (and --python). */
export function parseKernelArgs(args: string[], command: string, usage: string): InstallOptions | "help" {
  let location: InstallOptions["location"] | undefined;
  let force = false;
  let name = KERNEL_NAME;
  let python = "python3";
  const setLocation = (l: InstallOptions["location"]) => {
    if (location) throw new ArgumentError("--user/--prefix/--sys-prefix", "given more than once", "choose one location");
    location = l;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) throw new ArgumentError(a, "needs a value", usage);
      return v;
    };
    if (a === "--help" || a === "-h") return "help";
    else if (a === "--user") setLocation({ kind: "user" });
    else if (a === "--prefix") setLocation({ kind: "prefix", dir: value() });
    else if (a === "--sys-prefix") setLocation({ kind: "sys-prefix", python: "" });
    else if (a === "--python") python = value();
    else if (a === "--force") force = true;
    else if (a === "--name") {
      name = value();
      if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new ArgumentError("--name", `"${name}" is not a valid kernel name`, "use letters, digits, '.', '_' and '-'");
    } else throw new ArgumentError(a, `is not an option of ${command}`, usage);
  }
  const loc: InstallOptions["location"] = location ?? { kind: "user" };
  if (loc.kind === "sys-prefix") loc.python = python;
  return { location: loc, force, name };
}

export async function run(args: string[]): Promise<number> {
  const options = parseArgs(args);
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  const { specDir, status } = installKernel(options);
  const verb = status === "unchanged" ? "already installed (unchanged)" : status === "replaced" ? "replaced" : "installed";
  console.log(`Kernel "${DISPLAY_NAME}" ${verb} at ${specDir}`);
  console.log(`It runs ${path.join(packageRoot(), "kernel", "launch.js")} with ${options.node ?? process.execPath}.`);
  console.log(`Remove it with: lmprobe uninstall-kernel, with the same location and --name options   (or delete ${specDir})`);
  return 0;
}
