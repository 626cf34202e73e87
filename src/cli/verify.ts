// `lmprobe verify <model-dir> --reference <reference.safetensors> [--json] [--atol n] [--rtol n] [--backend name]`:
// compares the engine with a reference file and exits 0 only when every tensor and the generation pass.
import fs from "node:fs";
import path from "node:path";
import { ArgumentError } from "../errors";
import type { BackendName } from "../backend";
import { loadModel, resolveCheckpointDir } from "../load";
import { formatVerifyTable, verify, verifyJson } from "../verify";

const USAGE = `usage: lmprobe verify <model-dir | hub id | demo> [--reference <reference.safetensors>] [--json]
                     [--atol <n>] [--rtol <n>] [--backend cpu-native|wasm|cpu|webgpu|tensorflow]

Compares the engine's logits, residual stream, hidden states, attention patterns, logit lens and layer
similarities with a reference file (format of lmprobe's test fixtures), and its greedy continuation with
generated_ids, with and without the key/value cache. Tolerance: |engine − reference| ≤ atol + rtol·|reference|
(defaults 1e-4). --reference defaults to <model-dir>/reference.safetensors; the demo model carries its own
(transformers' numbers on "The capital of France is"), so \`lmprobe verify demo\` needs no file. Exit status 0
when all pass.`;

interface Parsed {
  model: string;
  reference: string | null;
  json: boolean;
  atol: number;
  rtol: number;
  backend: BackendName | undefined;
}

export function parseVerifyArgs(args: string[]): Parsed | "help" {
  const parsed: Parsed = { model: "", reference: null, json: false, atol: 1e-4, rtol: 1e-4, backend: undefined };
  const value = (i: number, flag: string): string => {
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new ArgumentError(flag, "needs a value", USAGE);
    return v;
  };
  const number = (i: number, flag: string): number => {
    const v = Number(value(i, flag));
    if (!Number.isFinite(v) || v < 0) throw new ArgumentError(flag, `is "${args[i + 1]}", not a non-negative number`, "e.g. --atol 1e-4");
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--help" || a === "-h") return "help";
    else if (a === "--json") parsed.json = true;
    else if (a === "--reference") parsed.reference = value(i++, a);
    else if (a === "--atol") parsed.atol = number(i++, a);
    else if (a === "--rtol") parsed.rtol = number(i++, a);
    else if (a === "--backend") parsed.backend = value(i++, a) as BackendName;
    else if (a.startsWith("--")) throw new ArgumentError(a, "is not an option of lmprobe verify", USAGE);
    else if (!parsed.model) parsed.model = a;
    else throw new ArgumentError("model", `was given twice ("${parsed.model}", "${a}")`, USAGE);
  }
  if (!parsed.model) throw new ArgumentError("model", "is missing", USAGE);
  return parsed;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseVerifyArgs(args);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  let reference = parsed.reference;
  if (!reference) {
    // The checkpoint's own folder: "demo" is the built-in model, which carries its reference; a hub id is its cache.
    const beside = path.join(await resolveCheckpointDir(parsed.model), "reference.safetensors");
    if (!fs.existsSync(beside)) throw new ArgumentError("--reference", `is missing and the model directory has no reference.safetensors (${beside})`, USAGE);
    reference = beside;
  }
  const model = await loadModel(parsed.model, { backend: parsed.backend });
  try {
    const result = await verify(model, reference, { atol: parsed.atol, rtol: parsed.rtol });
    console.log(parsed.json ? JSON.stringify(verifyJson(result), null, 2) : formatVerifyTable(result));
    return result.ok ? 0 : 1;
  } finally {
    model.dispose();
  }
}
