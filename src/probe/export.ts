// Every probe table exports to CSV, JSON and Arrow IPC (arquero 8), in memory or to a file.
import fs from "node:fs";
import path from "node:path";
import * as aq from "arquero";
import { ArgumentError } from "../errors";
import type { Table } from "./table";

/** A file format exportTable() and saveTable() write. */
export type TableFormat = "csv" | "json" | "arrow";

const EXTENSIONS: Record<string, TableFormat> = { ".csv": "csv", ".json": "json", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow" };

/**
 * CSV text, JSON text (an array of row objects) or Arrow IPC bytes (file format, readable by pyarrow / pandas).
 * CSV cannot tell an empty string from a missing value (a token whose text is "" reads back as null); JSON and
 * Arrow keep the difference.
 */
export function exportTable(table: Table, format: "csv" | "json"): string;
export function exportTable(table: Table, format: "arrow"): Uint8Array;
export function exportTable(table: Table, format: TableFormat): string | Uint8Array;
export function exportTable(table: Table, format: TableFormat): string | Uint8Array {
  switch (format) {
    case "csv":
      return aq.toCSV(table);
    case "json":
      return aq.toJSON(table, { type: "rows" });
    case "arrow":
      return aq.toArrowIPC(table, { format: "file" });
    default:
      throw new ArgumentError("format", `is ${JSON.stringify(format)}`, 'use "csv", "json" or "arrow"');
  }
}

/** Writes the table to `file`; the format follows the extension (.csv, .json, .arrow/.feather/.ipc) unless given. */
export function saveTable(table: Table, file: string, format?: TableFormat): string {
  const chosen = format ?? EXTENSIONS[path.extname(file).toLowerCase()];
  if (!chosen) {
    throw new ArgumentError("file", `${JSON.stringify(file)} has no known extension`, 'end it in .csv, .json or .arrow, or pass the format ("csv" | "json" | "arrow")');
  }
  const data = exportTable(table, chosen);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, data);
  return path.resolve(file);
}
