// `lmprobe workshop init <dir> [--solutions]`: a folder of exercise notebooks and a README for participants.
import { ArgumentError } from "../errors";
import { initWorkshop } from "../workshop/init";

const USAGE = "usage: lmprobe workshop init <dir> [--solutions]\n\nCopies the five exercise notebooks and a participants' README into <dir> (never overwriting a file).\n--solutions also copies the solutions, for the teacher.";

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  const [action, dir, ...rest] = args;
  const unknown = rest.filter((a) => a !== "--solutions");
  if (action !== "init" || !dir || dir.startsWith("-") || unknown.length > 0) {
    throw new ArgumentError("workshop", `was given ${JSON.stringify(args.join(" "))}`, USAGE);
  }
  const result = initWorkshop(dir, { solutions: rest.includes("--solutions") });
  console.log(`wrote ${result.files.length} files into ${result.dir}:\n${result.files.map((f) => `  ${f}`).join("\n")}\nnext: npx lmprobe install-kernel --user, then jupyter notebook in ${result.dir}`);
  return 0;
}
