// The `lmprobe` command: dispatches to one file per subcommand (src/cli/<name>.ts exporting `run`).
import { LmprobeError } from "../errors";
import { ownEntry } from "../own-key";

interface Subcommand {
  summary: string;
  load: () => Promise<{ run(args: string[]): Promise<number> }>;
}

const subcommands: Record<string, Subcommand> = {
  probe: { summary: "probe a model on a prompt and write an offline HTML report", load: () => import("./probe") },
  report: { summary: "render the report of a run file written by lmprobe probe --json", load: () => import("./report") },
  verify: { summary: "compare the engine with a reference.safetensors", load: () => import("./verify") },
  "install-kernel": { summary: "register the 'TypeScript (lmprobe)' Jupyter kernel", load: () => import("./install-kernel") },
  "uninstall-kernel": { summary: "remove the kernel install-kernel registered", load: () => import("./uninstall-kernel") },
  doctor: { summary: "show which tfjs backends were found and which was chosen", load: () => import("./doctor") },
  workshop: { summary: "copy the workshop's exercise notebooks into a folder (workshop init <dir>)", load: () => import("./workshop") },
};

function usage(): string {
  const width = Math.max(...Object.keys(subcommands).map((k) => k.length));
  const lines = Object.entries(subcommands).map(([k, s]) => `  ${k.padEnd(width)}  ${s.summary}`);
  return ["usage: lmprobe <command> [options]", "", "commands:", ...lines, "", "`lmprobe <command> --help` for its options."].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 2;
  }
  const sub = ownEntry(subcommands, name);
  if (!sub) {
    console.error(`lmprobe: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await sub.load()).run(rest);
  } catch (err) {
    if (err instanceof LmprobeError) {
      console.error(`lmprobe ${name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
