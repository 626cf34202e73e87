// `lmprobe workshop init <dir>`: copies the exercise notebooks (and, for a teacher, the solutions) into a folder
// with a README for participants. Every target is checked before anything is written, so an existing file is
// never overwritten and a refused run leaves the folder as it was.
import fs from "node:fs";
import path from "node:path";
import { FileExistsError, MissingFileError } from "../errors";
import { packageRoot } from "../io/package-root";

/** The folder initWorkshop() wrote and its files. */
export interface InitWorkshopResult {
  dir: string;
  files: string[];
}

const README = `# Interpretability workshop (lmprobe)

Five notebooks, in order: tokens and probabilities, the logit lens, attention and induction, activation patching,
steering and ablation. They run on lmprobe's small demo model, offline, on a laptop CPU.

## Setup (once)

1. Node 20 or 22, and Jupyter (\`pip install notebook\`, or Debian's \`jupyter-notebook\`).
2. Register the TypeScript kernel that comes with lmprobe:

       npx lmprobe install-kernel --user

3. Start Jupyter in this folder and open \`01-tokens-logits.ipynb\`; pick the kernel "TypeScript (lmprobe)".

       jupyter notebook

## How the exercises work

Each task asks you to predict, then compute, a number or a token. The cell after it calls
\`await ws.check("1.1", yourAnswer)\`, which says **right**, **close** or **wrong, and why**, from the demo model's own
numbers computed right then. \`ws.hint("1.1")\` prints a hint. Nothing is graded or sent anywhere.
`;

/** Copies the exercise notebooks (and optionally the solutions) and a participants' README into a folder, never overwriting. */
export function initWorkshop(dir: string, options: { solutions?: boolean } = {}): InitWorkshopResult {
  const source = path.join(packageRoot(), "notebooks", "workshop");
  if (!fs.existsSync(source)) throw new MissingFileError(source, "the workshop notebooks", "reinstall lmprobe: its package ships notebooks/workshop");
  const notebooks = fs.readdirSync(source).filter((f) => f.endsWith(".ipynb")).sort();
  const plan: { from: string | null; to: string }[] = [
    ...notebooks.map((f) => ({ from: path.join(source, f), to: path.join(dir, f) })),
    { from: null, to: path.join(dir, "README.md") },
  ];
  if (options.solutions) {
    for (const f of fs.readdirSync(path.join(source, "solutions")).filter((x) => x.endsWith(".ipynb")).sort()) {
      plan.push({ from: path.join(source, "solutions", f), to: path.join(dir, "solutions", f) });
    }
  }
  for (const { to } of plan) {
    if (fs.existsSync(to)) throw new FileExistsError(to, "choose an empty folder, or move that file away first");
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const { from, to } of plan) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    // "wx": fail rather than overwrite, should the file appear between the check and the write.
    fs.writeFileSync(to, from ? fs.readFileSync(from) : README, { flag: "wx" });
  }
  return { dir, files: plan.map((p) => path.relative(dir, p.to)) };
}
