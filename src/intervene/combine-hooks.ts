// Several interventions in one run: hook maps merge key by key, and hooks on the same point run in the order
// given (each sees the previous one's result).
import { ArgumentError } from "../errors";
import type { HookFn, HookMap } from "../model/hooks";

/** One hook map from several: hooks on the same name run in the order the maps are given. */
export function combineHooks(...maps: HookMap[]): HookMap {
  const out: Record<string, HookFn[]> = {};
  maps.forEach((map, i) => {
    if (!map || typeof map !== "object") throw new ArgumentError(`combineHooks argument ${i}`, "is not a hook map", "pass the maps zeroAblate(), steer(), … return");
    for (const [name, value] of Object.entries(map)) {
      const fns = Array.isArray(value) ? value : [value];
      out[name] = [...(out[name] ?? []), ...fns];
    }
  });
  return out;
}
