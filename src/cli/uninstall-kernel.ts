// `lmprobe uninstall-kernel [--user | --prefix DIR | --sys-prefix [--python PY]] [--force] [--name NAME]`: removes
// the kernelspec `install-kernel` wrote (Debian's Jupyter packages have no `jupyter kernelspec remove`). It only
// removes a kernel that is lmprobe's, unless --force.
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { KernelInstallError } from "../errors";
import { DISPLAY_NAME, KERNEL_NAME, kernelsDir, parseKernelArgs, type InstallOptions } from "./install-kernel";

export interface UninstallOptions {
  location: InstallOptions["location"];
  force: boolean;
  name: string;
}

const USAGE = `usage: lmprobe uninstall-kernel [--user | --prefix DIR | --sys-prefix [--python PY]] [--force] [--name NAME]

Removes the Jupyter kernel "${DISPLAY_NAME}" that install-kernel registered (default: the current user's).
  --user          ~/.local/share/jupyter/kernels (or $JUPYTER_DATA_DIR/kernels)
  --prefix DIR    DIR/share/jupyter/kernels
  --sys-prefix    the kernels folder of the Python that runs Jupyter (--python, default python3)
  --force         remove a kernel of that name even if lmprobe did not write it
  --name NAME     kernel name (default ${KERNEL_NAME})`;

export function parseUninstallArgs(args: string[]): UninstallOptions | "help" {
  return parseKernelArgs(args, "uninstall-kernel", USAGE);
}

/** Whether kernel.json is one install-kernel wrote (it names lmprobe's package and runs kernel/launch.js). */
function isLmprobeSpec(text: string): boolean {
  try {
    const spec = JSON.parse(text) as { argv?: unknown; metadata?: { lmprobe?: unknown } };
    const launcher = Array.isArray(spec.argv) ? String(spec.argv[1] ?? "") : "";
    return spec.metadata?.lmprobe !== undefined && launcher.endsWith(path.join("kernel", "launch.js"));
  } catch {
    return false;
  }
}

/** Removes the kernelspec folder; returns it. Throws when there is none, or when it is not lmprobe's (unless forced). */
export function uninstallKernel(options: UninstallOptions): string {
  const specDir = path.join(kernelsDir(options.location), options.name);
  const specFile = path.join(specDir, "kernel.json");
  if (!existsSync(specFile)) {
    throw new KernelInstallError(specDir, `no kernel named "${options.name}" is installed here`, "check --name and the location (--user, --prefix DIR or --sys-prefix) it was installed with");
  }
  if (!options.force && !isLmprobeSpec(readFileSync(specFile, "utf8"))) {
    throw new KernelInstallError(specDir, `the kernel named "${options.name}" here was not installed by lmprobe`, "pass --force to remove it anyway");
  }
  // The folder holds node_path/lmprobe, a link to the package: rmSync removes the link, never what it points to.
  rmSync(specDir, { recursive: true, force: true });
  return specDir;
}

export async function run(args: string[]): Promise<number> {
  const options = parseUninstallArgs(args);
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  const specDir = uninstallKernel(options);
  console.log(`Kernel "${options.name}" removed from ${specDir}`);
  return 0;
}
