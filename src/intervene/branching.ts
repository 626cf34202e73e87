// Branching generation: generate, pick a step of the continuation, put an alternative token there and continue
// from it, and lay the branches side by side with the probability the model gave each token. All branches
// continue in one batched generate call and are scored in one batched forward pass.
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError } from "../errors";
import type { GenerateOptions } from "../model/generate";
import type { LanguageModel } from "../model/model";
import { tableOf, type Table } from "../probe/table";
import { resolveTokenId, type TokenSpec } from "../probe/tokens";
import { withInputArgument } from "./input-argument";

/** Options of branchGeneration(): the step to branch at, the alternative tokens, and generation's options. */
export interface BranchOptions extends Omit<GenerateOptions, "capture"> {
  /** The generated step where branches diverge: 0 = the first generated token (negative counts from the end). */
  at: number;
  /** Tokens to put there instead (texts of one token, or ids). Default: the `topAlternatives` likeliest others. */
  alternatives?: TokenSpec[];
  /** How many alternatives when none are given (default 3). */
  topAlternatives?: number;
  /** A generation to branch from (prompt + generated ids), instead of generating one from `prompt`. */
  from?: number[];
}

/** One branch of branchGeneration(): its label, tokens and text. */
export interface Branch {
  /** "original", or the alternative token's text. */
  label: string;
  /** Prompt + generated ids. */
  tokens: number[];
  /** Generated ids (the alternative in place at step `at`). */
  newTokens: number[];
  text: string;
  /** Probability the model gave each generated token, in order. */
  probs: number[];
}

/** What branchGeneration() returns: the branches, where they diverge, a table and a side-by-side view. */
export interface BranchResult {
  branches: Branch[];
  /** Index in the sequence where the branches diverge. */
  position: number;
  /** branch, step, position, token, prob, branched (true at the branch point). */
  table: Table;
  /** One row per generated step: step, position, then for each branch its token and probability. */
  sideBySide: Table;
}

/** Generates once, then again from one step with other tokens put there, and lines the branches up side by side. */
export async function branchGeneration(model: LanguageModel, prompt: string | number[], options: BranchOptions): Promise<BranchResult> {
  if (!options || !Number.isInteger(options.at)) throw new ArgumentError("at", `is ${options?.at}`, "give the generated step to branch at: 0 for the first generated token");
  const { at: _at, alternatives: _alt, topAlternatives: _top, from, ...genOpts } = options;
  const promptIds = withInputArgument("prompt", () => model.toTokens(prompt, { prependBos: options.prependBos, chat: options.chat }));
  let base: number[];
  if (from) {
    base = withInputArgument("from", () => model.toTokens(from, {}));
    if (base.length <= promptIds.length || promptIds.some((t, i) => base[i] !== t)) {
      throw new ArgumentError("from", "does not start with the prompt's tokens followed by generated ones", "pass the `tokens` of a generate() call on this prompt");
    }
  } else {
    const gen = await model.generate(promptIds, { ...genOpts, prependBos: false, chat: false });
    gen.dispose();
    base = gen.tokens[0];
  }
  const generated = base.length - promptIds.length;
  const step = options.at < 0 ? generated + options.at : options.at;
  if (step < 0 || step >= generated) throw new ArgumentError("at", `is ${options.at} but ${generated} tokens were generated`, `use a step in [${-generated}, ${generated - 1}]`);
  const position = promptIds.length + step;
  const prefix = base.slice(0, position);

  const alternatives = await chooseAlternatives(model, prefix, base[position], options);
  const remaining = generated - step - 1;
  let continued: number[][] = alternatives.map((a) => [...prefix, a]);
  if (remaining > 0) {
    const gen = await model.generate(continued, { ...genOpts, maxNewTokens: remaining, prependBos: false, chat: false });
    gen.dispose();
    continued = gen.tokens;
  }
  const sequences = [base, ...continued];
  const probs = await tokenProbabilities(model, sequences, promptIds.length, options.hooks);
  const labels = ["original", ...alternatives.map((a) => model.toStrTokens([a])[0])];
  const branches: Branch[] = sequences.map((tokens, b) => {
    const newTokens = tokens.slice(promptIds.length);
    return { label: labels[b], tokens, newTokens, text: model.toText(newTokens, { skipSpecialTokens: true }), probs: probs[b] };
  });
  return { branches, position, table: longTable(model, branches, promptIds.length, step), sideBySide: wideTable(model, branches, promptIds.length) };
}

async function chooseAlternatives(model: LanguageModel, prefix: number[], original: number, options: BranchOptions): Promise<number[]> {
  if (options.alternatives !== undefined) {
    if (!Array.isArray(options.alternatives) || options.alternatives.length === 0) throw new ArgumentError("alternatives", `is ${JSON.stringify(options.alternatives)}`, 'pass a list of tokens, e.g. [" Rome", " Berlin"]');
    return options.alternatives.map((a, i) => resolveTokenId(model, a, `alternatives[${i}]`));
  }
  const k = options.topAlternatives ?? 3;
  if (!Number.isInteger(k) || k < 1) throw new ArgumentError("topAlternatives", `is ${k}`, "use a positive integer");
  const run = model.runWithHooks(prefix, options.hooks ?? {});
  try {
    const top = tf.tidy(() => tf.topk(run.logits.slice([0, prefix.length - 1, 0], [1, 1, -1]).reshape([-1]), k + 1).indices);
    const ids = Array.from(await top.data());
    top.dispose();
    return ids.filter((id) => id !== original).slice(0, k);
  } finally {
    run.dispose();
  }
}

/** Per sequence, the probability of each token after the prompt given the tokens before it (one batched pass). */
async function tokenProbabilities(model: LanguageModel, sequences: number[][], promptLength: number, hooks: BranchOptions["hooks"]): Promise<number[][]> {
  const run = model.runWithHooks(sequences, hooks ?? {});
  try {
    const T = run.logits.shape[1];
    const indices: number[][] = [];
    const owners: number[] = [];
    sequences.forEach((seq, b) => {
      const pad = T - seq.length;
      for (let i = promptLength; i < seq.length; i++) {
        indices.push([b, pad + i - 1, seq[i]]);
        owners.push(b);
      }
    });
    const picked = tf.tidy(() => tf.exp(tf.gatherND(tf.logSoftmax(run.logits), tf.tensor2d(indices, [indices.length, 3], "int32"))));
    const values = await picked.data();
    picked.dispose();
    const out: number[][] = sequences.map(() => []);
    owners.forEach((b, i) => out[b].push(values[i]));
    return out;
  } finally {
    run.dispose();
  }
}

function longTable(model: LanguageModel, branches: Branch[], promptLength: number, branchStep: number): Table {
  const cols = { branch: [] as string[], step: [] as number[], position: [] as number[], token: [] as string[], prob: [] as number[], branched: [] as boolean[] };
  branches.forEach((br, b) => {
    const texts = model.toStrTokens(br.newTokens);
    br.newTokens.forEach((_, s) => {
      cols.branch.push(br.label);
      cols.step.push(s);
      cols.position.push(promptLength + s);
      cols.token.push(texts[s]);
      cols.prob.push(br.probs[s]);
      cols.branched.push(b > 0 && s === branchStep);
    });
  });
  return tableOf(cols);
}

function wideTable(model: LanguageModel, branches: Branch[], promptLength: number): Table {
  const steps = Math.max(...branches.map((b) => b.newTokens.length));
  const cols: Record<string, unknown[]> = { step: [], position: [] };
  const names = branches.map((b, i) => (i === 0 ? b.label : `${i}:${b.label}`));
  for (const n of names) {
    cols[n] = [];
    cols[`${n} p`] = [];
  }
  const texts = branches.map((b) => model.toStrTokens(b.newTokens));
  for (let s = 0; s < steps; s++) {
    cols.step.push(s);
    cols.position.push(promptLength + s);
    branches.forEach((b, i) => {
      cols[names[i]].push(s < b.newTokens.length ? texts[i][s] : null);
      cols[`${names[i]} p`].push(s < b.newTokens.length ? b.probs[s] : null);
    });
  }
  return tableOf(cols);
}
