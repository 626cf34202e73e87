// The workshop's exercises on the demo model. Each one's answer is computed from the model at run time (never a
// number written down that could drift from the weights), by a route independent of the one the solutions take
// where the library offers two, and judged with a tolerance that says "right", "close" or "wrong, and why".
import { activationPatching } from "../intervene/activation-patching";
import { steer, steeringVector } from "../intervene/steering";
import { zeroAblate } from "../intervene/zero-ablate";
import type { LanguageModel } from "../model/model";
import { detectHeads, topHeads } from "../probe/head-detectors";
import { demoInductionPrompt } from "../probe/induction-prompts";
import { logitLens } from "../probe/logit-lens";
import { choiceJudge, headJudge, numberJudge, tokenJudge, type Judge } from "./judges";

/** One workshop task: its id, text, hint, judge and the model's own answer. */
export interface Exercise {
  id: string;
  /** The task, as the participant reads it. */
  task: string;
  hint: string;
  judge: Judge;
  truth(model: LanguageModel): Promise<unknown>;
}

/** The prompt the workshop's exercises use: "The capital of France is". */
export const CAPITAL_PROMPT = "The capital of France is";
/** Seeds of the induction lists the accuracy exercises average over (the demo's evaluation format: 6 nouns, 3 repeated). */
export const INDUCTION_SEEDS = Array.from({ length: 24 }, (_, i) => 1000 + i);

function lastLogits(model: LanguageModel, prompt: string, hooks = {}): number[] {
  const run = model.runWithHooks(prompt, hooks, { lastPositionOnly: true });
  try {
    return Array.from(run.logits.dataSync());
  } finally {
    run.dispose();
  }
}

const argmax = (v: number[]) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
const topToken = (model: LanguageModel, logits: number[]) => model.toStrTokens([argmax(logits)])[0];

/** Share of the induction lists whose next word the model predicts, with `hooks` applied. */
export function inductionAccuracy(model: LanguageModel, hooks = {}): number {
  let right = 0;
  for (const seed of INDUCTION_SEEDS) {
    const p = demoInductionPrompt(seed, { k: 6, cut: 3 });
    if (topToken(model, lastLogits(model, p.text, hooks)) === p.expected) right++;
  }
  return right / INDUCTION_SEEDS.length;
}

async function lensAtLast(model: LanguageModel) {
  const lens = await logitLens(model, CAPITAL_PROMPT, { k: 1, targets: [" Paris"], positions: [-1] });
  const rows = lens.trajectory!.objects() as { layer: number; rank: number; prob: number }[];
  const entropy = (lens.entropy.objects() as { layer: number; entropy: number }[]).map((r) => r.entropy);
  return { rows, entropy };
}

async function countryPatching(model: LanguageModel) {
  return activationPatching(model, { clean: CAPITAL_PROMPT, corrupted: "The capital of Japan is", answers: [" Paris", " Tokyo"], components: ["resid_pre", "z_all"] });
}

const EXERCISES: Exercise[] = [
  // 1. Tokens, logits and probabilities
  { id: "1.1", task: `How many tokens does ${JSON.stringify(CAPITAL_PROMPT)} have?`, hint: "model.toTokens(text) gives the ids.", judge: numberJudge(0, 1, "Count the ids, not the words: a word can be several tokens."), truth: async (m) => m.toTokens(CAPITAL_PROMPT).length },
  { id: "1.2", task: "Which token does the model predict next?", hint: "Take the last position's logits and their largest entry; model.toStrTokens([id]) gives its text.", judge: tokenJudge("Look at the last position's logits, not the first."), truth: async (m) => topToken(m, lastLogits(m, CAPITAL_PROMPT)) },
  {
    id: "1.3",
    task: "With what probability?",
    hint: "softmax over the vocabulary at the last position.",
    judge: numberJudge(1e-3, 0.05, "A logit is not a probability: apply softmax over the whole vocabulary."),
    truth: async (m) => {
      const l = lastLogits(m, CAPITAL_PROMPT);
      const max = Math.max(...l);
      return 1 / l.reduce((s, v) => s + Math.exp(v - max), 0);
    },
  },
  // 2. The logit lens
  { id: "2.1", task: 'After which layer is " Paris" first the top prediction at the last position (0 = the embedding output)?', hint: "logitLens(model, prompt, { targets: [\" Paris\"] }).trajectory has a rank per layer.", judge: numberJudge(0, 1, "Read the rank column of the trajectory at the last position."), truth: async (m) => (await lensAtLast(m)).rows.find((r) => r.rank === 1)!.layer },
  { id: "2.2", task: 'What rank does " Paris" have at layer 0, from the embedding alone (1 = top)?', hint: "Same trajectory, layer 0.", judge: (ex, a, t) => numberJudge(0, Math.max(2, (t as number) / 2), "At layer 0 the lens sees only the current token's embedding.")(ex, a, t), truth: async (m) => (await lensAtLast(m)).rows.find((r) => r.layer === 0)!.rank },
  {
    id: "2.3",
    task: "At which layer is the lens most uncertain (highest entropy) at the last position?",
    hint: "lens.entropy holds one row per layer and position.",
    judge: numberJudge(0, 1, "Entropy is highest where the context has been mixed in but no answer chosen yet."),
    truth: async (m) => {
      const e = (await lensAtLast(m)).entropy;
      return e.indexOf(Math.max(...e));
    },
  },
  // 3. Attention and induction
  { id: "3.1", task: "Which head has the highest induction score?", hint: 'detectHeads(model) then topHeads(result.table, "induction", 1).', judge: headJudge("Sort the heads by their induction score."), truth: async (m) => topHeads((await detectHeads(m)).table, "induction", 1)[0] },
  { id: "3.2", task: "On the demo's induction lists (6 nouns, then the first 3 again), how often does the model predict the 4th noun?", hint: "Compare the top token after each prompt with prompt.expected, over INDUCTION_SEEDS.", judge: numberJudge(1e-9, 0.1, "Use the top token at the last position of each list."), truth: async (m) => inductionAccuracy(m) },
  { id: "3.3", task: "Predict, then measure: the same accuracy with head 5 of layer 0 zero-ablated (its hook_z).", hint: 'zeroAblate("blocks.0.attn.hook_z", { head: 5 }) as hooks of runWithHooks.', judge: numberJudge(1e-9, 0.15, "Ablate hook_z of that one head, then rerun every list."), truth: async (m) => inductionAccuracy(m, zeroAblate("blocks.0.attn.hook_z", { head: 5 })) },
  // 4. Activation patching
  {
    id: "4.1",
    task: 'Patch resid_pre from the France run into the Japan run at the " France" position: from which layer on does it stop restoring " Paris" (normalised metric below 0.5)?',
    hint: 'activationPatching(model, { clean, corrupted, answers: [" Paris", " Tokyo"], components: ["resid_pre"] }).',
    judge: numberJudge(0, 1, "Read the resid_pre rows at the country's position."),
    truth: async (m) => {
      const res = await countryPatching(m);
      const position = m.toStrTokens(CAPITAL_PROMPT).indexOf(" France");
      const rows = (res.table.objects() as { component: string; layer: number; position: number; metric: number }[]).filter((r) => r.component === "resid_pre" && r.position === position);
      return rows.sort((a, b) => a.layer - b.layer).find((r) => r.metric < 0.5)?.layer ?? m.config.numLayers;
    },
  },
  {
    id: "4.2",
    task: "Patching one head's output (hook_z at every position): which head restores the answer most?",
    hint: 'components: ["z_all"], then the row with the largest metric.',
    judge: headJudge("Patch each head at every position and compare the metric."),
    truth: async (m) => {
      const rows = ((await countryPatching(m)).table.objects() as { component: string; layer: number; head: number; metric: number }[]).filter((r) => r.component === "z_all");
      const best = rows.reduce((a, b) => (b.metric > a.metric ? b : a));
      return [best.layer, best.head];
    },
  },
  // 5. Steering and ablation
  {
    id: "5.1",
    task: 'Steer with the France → Japan direction (resid_pre at layer 2, alpha 4): what does the model now predict after "The capital of France is"?',
    hint: 'steeringVector(model, { positive: "The capital of Japan is", negative: "The capital of France is", hook: "resid_pre", layer: 2 }).',
    judge: tokenJudge("Add the vector (positive minus negative) with steer(vector, 4) while running the France prompt."),
    truth: async (m) => {
      const v = await steeringVector(m, { positive: "The capital of Japan is", negative: CAPITAL_PROMPT, hook: "resid_pre", layer: 2 });
      return topToken(m, lastLogits(m, CAPITAL_PROMPT, steer(v, 4)));
    },
  },
  { id: "5.2", task: 'Zero-ablate the whole attention output of layer 0 (hook_attn_out): is " Paris" still the top prediction? (true / false)', hint: 'zeroAblate("attn_out", { layer: 0 }).', judge: choiceJudge("Run with the ablation and compare the top token with \" Paris\"."), truth: async (m) => topToken(m, lastLogits(m, CAPITAL_PROMPT, zeroAblate("attn_out", { layer: 0 }))) === " Paris" },
];

/** Every workshop exercise, in teaching order. */
export function exerciseList(): readonly Exercise[] {
  return EXERCISES;
}

export function findExercise(id: string): Exercise | undefined {
  return EXERCISES.find((e) => e.id === id);
}

