// The model's input checks name the argument "input" (they see only the model's own call). Interventions take
// prompts under other names (reference, source, clean, corrupted, prompt…): these errors are renamed to the
// argument the user actually passed, with the same problem and fix.
import { ArgumentError } from "../errors";

const MODEL_INPUT = /^input(?=\[|$)/;

/** Runs `fn`; an ArgumentError about the model input ("input", "input[2]") is rethrown naming `argument` instead. */
export function withInputArgument<T>(argument: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ArgumentError && MODEL_INPUT.test(err.argument)) throw renamedInputError(err, argument);
    throw err;
  }
}

function renamedInputError(err: ArgumentError, argument: string): ArgumentError {
  // ArgumentError writes `argument "<name>" <problem>` and, with a fix, "\n  fix: <fix>".
  const head = `argument "${err.argument}" `;
  const tail = err.fix ? `\n  fix: ${err.fix}` : "";
  const problem =
    err.message.startsWith(head) && err.message.endsWith(tail) ? err.message.slice(head.length, err.message.length - tail.length) : err.message;
  const renamed = new ArgumentError(err.argument.replace(MODEL_INPUT, argument), problem, err.fix);
  renamed.stack = `${renamed.name}: ${renamed.message}\n${(err.stack ?? "").split("\n").slice(1).join("\n")}`;
  return renamed;
}
