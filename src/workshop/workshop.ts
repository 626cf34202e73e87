// workshop(model): the checker a participant calls after each task. check(id, answer) shows a verdict (right,
// close, wrong and why, or not answered yet) and returns it; hint(id) shows the hint. The model's own answers are
// computed once per model, on first use.
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import { isDemoModel } from "../probe/induction-prompts";
import { show } from "../display/show";
import { CheckResult } from "./check-result";
import { exerciseList, findExercise, type Exercise } from "./exercises";

/** What workshop() returns: check, hint and the list of exercises. */
export interface Workshop {
  check(id: string, answer: unknown): Promise<CheckResult>;
  hint(id: string): string;
  /** id and task of every exercise, in order. */
  exercises(): { id: string; task: string }[];
}

/** The workshop's checker for the demo model: check(id, answer) shows right, close or wrong and why; hint(id) helps. */
export function workshop(model: LanguageModel, options: { quiet?: boolean } = {}): Workshop {
  if (!isDemoModel(model)) throw new ArgumentError("model", `is ${model.name}, but the workshop's exercises are about the demo model`, "load it with loadModel() (no argument)");
  const truths = new Map<string, Promise<unknown>>();
  const exercise = (id: string): Exercise => {
    const e = findExercise(id);
    if (!e) throw new ArgumentError("id", `is ${JSON.stringify(id)}`, `use one of ${exerciseList().map((x) => x.id).join(", ")}`);
    return e;
  };
  const display = <T extends CheckResult | string>(x: T): T => {
    if (!options.quiet) show(x);
    return x;
  };
  return {
    async check(id, answer) {
      const e = exercise(id);
      if (answer === undefined || answer === null) return display(new CheckResult(id, "unanswered", e.task));
      if (!truths.has(id)) truths.set(id, e.truth(model));
      return display(e.judge(id, answer, await truths.get(id)));
    },
    hint(id) {
      return display(`${id} hint: ${exercise(id).hint}`);
    },
    exercises: () => exerciseList().map((e) => ({ id: e.id, task: e.task })),
  };
}
