// Every probe table exports to CSV, JSON and Arrow IPC (arquero 8), in memory or to a file.
import fs from "node:fs";
import path from "node:path";
import * as aq from "arquero";
import { tableFromIPC, tableToIPC } from "@uwdata/flechette";
import { ArgumentError } from "../errors";
import type { Provenance } from "../model/provenance";
import type { Table } from "./table";

/** A file format exportTable() and saveTable() write. */
export type TableFormat = "csv" | "json" | "arrow";

/** Which call made a table, so checkReproduction() can make it again. */
export interface AnalysisRecord {
  /** A probe of the reproduction registry (reproduce.ts), e.g. "logitLens". */
  name: string;
  input: string | number[];
  options?: Record<string, unknown>;
  /** Which table of the probe's result (default "table"). */
  table?: string;
}

/** What an export carries besides its rows. */
export interface ExportMetadata {
  provenance?: Provenance;
  analysis?: AnalysisRecord;
}

const META_KEY = "lmprobe";

const EXTENSIONS: Record<string, TableFormat> = { ".csv": "csv", ".json": "json", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow" };

/**
 * CSV text, JSON text (an array of row objects) or Arrow IPC bytes (file format, readable by pyarrow / pandas).
 * CSV cannot tell an empty string from a missing value (a token whose text is "" reads back as null); JSON and
 * Arrow keep the difference.
 */
export function exportTable(table: Table, format: "csv" | "json", metadata?: ExportMetadata): string;
export function exportTable(table: Table, format: "arrow", metadata?: ExportMetadata): Uint8Array;
export function exportTable(table: Table, format: TableFormat, metadata?: ExportMetadata): string | Uint8Array;
export function exportTable(table: Table, format: TableFormat, metadata?: ExportMetadata): string | Uint8Array {
  // With metadata: CSV starts with one "# lmprobe: {json}" comment line (pandas: comment="#"); JSON becomes
  // { lmprobe, rows }; Arrow keeps it in the schema's custom metadata under "lmprobe".
  const meta = metadata && (metadata.provenance || metadata.analysis) ? JSON.stringify(metadata) : null;
  switch (format) {
    case "csv":
      return (meta ? `# ${META_KEY}: ${meta}\n` : "") + aq.toCSV(table);
    case "json":
      return meta ? `{"${META_KEY}":${meta},"rows":${aq.toJSON(table, { type: "rows" })}}` : aq.toJSON(table, { type: "rows" });
    case "arrow": {
      if (!meta) return aq.toArrowIPC(table, { format: "file" });
      const arrow = aq.toArrow(table);
      arrow.schema.metadata = new Map([...(arrow.schema.metadata ?? new Map()), [META_KEY, meta]]);
      return tableToIPC(arrow, { format: "file" })!;
    }
    default:
      throw new ArgumentError("format", `is ${JSON.stringify(format)}`, 'use "csv", "json" or "arrow"');
  }
}

/** Rows and metadata of an export made by exportTable (CSV or JSON text, Arrow bytes). */
export function readExport(data: string | Uint8Array): { rows: Record<string, unknown>[]; metadata: ExportMetadata } {
  if (data instanceof Uint8Array) {
    const arrow = tableFromIPC(data);
    const meta = arrow.schema.metadata?.get(META_KEY);
    return { rows: arrow.toArray() as Record<string, unknown>[], metadata: meta ? JSON.parse(meta) : {} };
  }
  const text = data.trimStart();
  if (text.startsWith("{")) {
    const parsed = JSON.parse(text);
    return { rows: parsed.rows ?? [], metadata: parsed[META_KEY] ?? {} };
  }
  if (text.startsWith("[")) return { rows: JSON.parse(text), metadata: {} };
  const comment = new RegExp(`^# ${META_KEY}: (.*)\n`).exec(text);
  const body = comment ? text.slice(comment[0].length) : text;
  return { rows: aq.fromCSV(body).objects() as Record<string, unknown>[], metadata: comment ? JSON.parse(comment[1]) : {} };
}

/** Writes the table to `file`; the format follows the extension (.csv, .json, .arrow/.feather/.ipc) unless given. */
export function saveTable(table: Table, file: string, format?: TableFormat, metadata?: ExportMetadata): string {
  const chosen = format ?? EXTENSIONS[path.extname(file).toLowerCase()];
  if (!chosen) {
    throw new ArgumentError("file", `${JSON.stringify(file)} has no known extension`, 'end it in .csv, .json or .arrow, or pass the format ("csv" | "json" | "arrow")');
  }
  const data = exportTable(table, chosen, metadata);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, data);
  return path.resolve(file);
}
