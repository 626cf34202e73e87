// A whole run as one JSON file: the report's title, facts, provenance and every section with its charts (Vega-Lite
// specs with their summaries and explainers) and tables (rows), plus the config, the prompt and the generated text.
// loadRun() reads it back; reportFromRun() re-renders the same report from it, with no model needed.
import fs from "node:fs";
import * as aq from "arquero";
import { ArgumentError } from "../errors";
import type { Provenance } from "../model/provenance";
import { Chart } from "./chart";
import type { ReportItem, ReportOptions } from "./report";
import { isTableLike, type TableHtmlOptions, type TableLike } from "./table-html";

export const RUN_FILE_VERSION = 1;

type SavedItem =
  | { chart: { spec: Record<string, unknown>; summary: string; explainer?: string } }
  | { table: { columns: string[]; rows: Record<string, unknown>[] }; options?: TableHtmlOptions }
  | { text: string }
  | { note: string };

/** A whole run as JSON: title, facts, provenance, prompt, generated text, config and every section. */
export interface RunFile {
  lmprobe: { runFile: number };
  title: string;
  facts: Array<[string, string]>;
  provenance: Provenance | null;
  prompt: string;
  generated: string | null;
  config: Record<string, unknown> | null;
  sections: Array<{ title: string; intro?: string; items: SavedItem[] }>;
}

function saveTable(t: TableLike, options?: TableHtmlOptions): SavedItem {
  const table = t as unknown as aq.ColumnTable;
  // BigInt (Arrow int64) would not survive JSON.
  const rows = (table.objects() as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])));
  return { table: { columns: table.columnNames(), rows }, ...(options ? { options } : {}) };
}

function saveItem(item: ReportItem): SavedItem {
  if (item instanceof Chart) return { chart: { spec: item.spec, summary: item.summary, ...(item.explainer ? { explainer: item.explainer } : {}) } };
  if (isTableLike(item)) return saveTable(item);
  if ("table" in item) return saveTable(item.table, item.options);
  return item;
}

export function runFileOf(report: ReportOptions, run: { prompt: string; generated?: string | null; config?: Record<string, unknown> | null }): RunFile {
  return {
    lmprobe: { runFile: RUN_FILE_VERSION },
    title: report.title,
    facts: report.facts ?? [],
    provenance: report.provenance ?? null,
    prompt: run.prompt,
    generated: run.generated ?? null,
    config: run.config ?? null,
    sections: report.sections.map((s) => ({ title: s.title, ...(s.intro ? { intro: s.intro } : {}), items: s.items.map(saveItem) })),
  };
}

/** Reads a run file written by lmprobe probe --json. */
export function loadRun(file: string): RunFile {
  let parsed: RunFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new ArgumentError("run file", `${file} is not readable JSON (${(err as Error).message})`, "pass a file written by lmprobe probe --json");
  }
  if (parsed?.lmprobe?.runFile !== RUN_FILE_VERSION || !Array.isArray(parsed.sections)) {
    throw new ArgumentError("run file", `${file} is not an lmprobe run file (version ${RUN_FILE_VERSION})`, "pass a file written by lmprobe probe --json");
  }
  return parsed;
}

/** The report a run file describes, ready for reportHtml. */
export function reportFromRun(run: RunFile, options: { interactive?: boolean } = {}): ReportOptions {
  const itemOf = (item: SavedItem): ReportItem => {
    if ("chart" in item) return new Chart(item.chart.spec, item.chart.summary, item.chart.explainer);
    if ("table" in item) {
      const columns = Object.fromEntries(item.table.columns.map((c) => [c, item.table.rows.map((r) => r[c] ?? null)]));
      return { table: aq.table(columns) as unknown as TableLike, options: item.options };
    }
    return item;
  };
  return { title: run.title, facts: run.facts, provenance: run.provenance, interactive: options.interactive, sections: run.sections.map((s) => ({ title: s.title, intro: s.intro, items: s.items.map(itemOf) })) };
}

/** Every table of a run file by section title: `{ "Logit lens": [table, …] }`, as Arquero tables. */
export function runTables(run: RunFile): Record<string, aq.ColumnTable[]> {
  return Object.fromEntries(
    run.sections.map((s) => [s.title, s.items.flatMap((i) => ("table" in i ? [aq.table(Object.fromEntries(i.table.columns.map((c) => [c, i.table.rows.map((r) => r[c] ?? null)])))] : []))]),
  );
}
