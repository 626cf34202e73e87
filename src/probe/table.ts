// Building the probes' Arquero tables column by column, and the one Table type they all return.
import * as aq from "arquero";

/** An Arquero table: what every probe returns. */
export type Table = aq.ColumnTable;

/** Accumulates rows into named columns (fixed order), then makes one Arquero table. */
export class ColumnBuilder<C extends string> {
  private readonly data: Record<string, unknown[]>;

  constructor(readonly names: readonly C[]) {
    this.data = Object.fromEntries(names.map((n) => [n, [] as unknown[]]));
  }

  push(row: Record<C, unknown>): void {
    for (const n of this.names) this.data[n].push(row[n]);
  }

  get length(): number {
    return this.data[this.names[0]].length;
  }

  table(): Table {
    return aq.table(this.data);
  }
}

/** A table from whole columns (all of one length). */
export function tableOf(columns: Record<string, ArrayLike<unknown>>): Table {
  return aq.table(Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, Array.from(v)])));
}
