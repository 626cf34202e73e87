// How an answer is compared with the model's own value: numbers within a tolerance (close within a wider one),
// tokens exactly (close when only the leading space differs), heads and choices exactly.
import { CheckResult } from "./check-result";

export type Judge = (exercise: string, answer: unknown, truth: unknown) => CheckResult;

const fmt = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : JSON.stringify(v));

/** Right within `tolerance` (absolute), close within `closeTolerance`; `why` explains a wrong answer. */
export function numberJudge(tolerance: number, closeTolerance: number, why: string): Judge {
  return (exercise, answer, truth) => {
    const t = truth as number;
    if (typeof answer !== "number" || !Number.isFinite(answer)) return new CheckResult(exercise, "wrong", `expected a number, got ${fmt(answer)}.`);
    const off = Math.abs(answer - t);
    if (off <= tolerance) return new CheckResult(exercise, "right", `the model gives ${fmt(t)}.`, t);
    if (off <= closeTolerance) return new CheckResult(exercise, "close", `${fmt(answer)} is near: the model gives ${fmt(t)}.`, t);
    return new CheckResult(exercise, "wrong", `${fmt(answer)} is off by ${fmt(off)}. ${why}`, t);
  };
}

/** A token's text: exact; close when it matches once spaces at the ends are ignored (tokens carry their space). */
export function tokenJudge(why: string): Judge {
  return (exercise, answer, truth) => {
    if (typeof answer !== "string") return new CheckResult(exercise, "wrong", `expected the token's text (a string), got ${fmt(answer)}.`);
    if (answer === truth) return new CheckResult(exercise, "right", `the model predicts ${fmt(truth)}.`, truth);
    if (answer.trim() === String(truth).trim()) return new CheckResult(exercise, "close", `the token is ${fmt(truth)}: tokens carry their leading space.`, truth);
    return new CheckResult(exercise, "wrong", `${fmt(answer)} is not it. ${why}`, truth);
  };
}

/** A head as "L2H1" or [layer, head]; close when the layer is right. */
export function headJudge(why: string): Judge {
  return (exercise, answer, truth) => {
    const [tl, th] = truth as [number, number];
    const parsed = parseHead(answer);
    if (!parsed) return new CheckResult(exercise, "wrong", `write the head as "L2H1" or [2, 1], got ${fmt(answer)}.`);
    const label = `L${tl}H${th}`;
    if (parsed[0] === tl && parsed[1] === th) return new CheckResult(exercise, "right", `it is ${label}.`, label);
    if (parsed[0] === tl) return new CheckResult(exercise, "close", `right layer, but the head is ${label}.`, label);
    return new CheckResult(exercise, "wrong", `L${parsed[0]}H${parsed[1]} is not it. ${why}`, label);
  };
}

function parseHead(answer: unknown): [number, number] | null {
  if (Array.isArray(answer) && answer.length === 2 && answer.every(Number.isInteger)) return [answer[0], answer[1]];
  const m = typeof answer === "string" ? /^\s*L(\d+)\s*H(\d+)\s*$/i.exec(answer) : null;
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** One of a few values (strings or booleans), exactly. */
export function choiceJudge(why: string): Judge {
  return (exercise, answer, truth) =>
    answer === truth ? new CheckResult(exercise, "right", `it is ${fmt(truth)}.`, truth) : new CheckResult(exercise, "wrong", `not ${fmt(answer)}. ${why}`, truth);
}
