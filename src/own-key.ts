// Look-ups of user-given strings (model_type, hidden_act, a dtype, a hook or command name) in plain-object
// tables must see only the table's own entries: `table["constructor"]` is Object's constructor and
// `table["__proto__"]` Object.prototype, which a bare lookup returns as if they were entries.

/** table[key] when key is one of the table's own entries, else undefined. */
export function ownEntry<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** Sets table[key] as an own entry, also for "__proto__" (which plain assignment would treat as the prototype). */
export function setOwnEntry<T>(table: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
}
