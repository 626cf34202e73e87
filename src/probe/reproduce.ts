// Reproducing a shared result: an export made with exportAnalysis() (or exportTable with an analysis record)
// names the probe, its input and options; checkReproduction reruns that probe on the model at hand and compares
// every cell, and lists which provenance fields differ (other weights, another backend, another version).
import fs from "node:fs";
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import { provenance, provenanceDifferences, type Provenance } from "../model/provenance";
import { attentionDistance } from "./attention-distance";
import { attentionPatterns } from "./attention";
import { directLogitAttribution } from "./direct-logit-attribution";
import { embeddingPca } from "./embedding-pca";
import { exportTable, readExport, type AnalysisRecord, type TableFormat } from "./export";
import { layerActivations } from "./layer-activations";
import { layerSimilarity } from "./layer-similarity";
import { logitDistribution } from "./logit-distribution";
import { logitLens } from "./logit-lens";
import { moeRouting } from "./moe";
import { residualNorms } from "./residual";
import { ColumnBuilder, type Table } from "./table";
import { tokenProbabilities } from "./token-probs";

type Probe = (model: LanguageModel, input: string | number[], options: Record<string, unknown>) => Promise<object>;

/** The probes an export can name. Each returns an object of tables. */
const PROBES = new Map<string, Probe>([
  ["logitLens", (m, i, o) => logitLens(m, i, o)],
  ["tokenProbabilities", (m, i, o) => tokenProbabilities(m, i, o)],
  ["layerSimilarity", (m, i, o) => layerSimilarity(m, i, o)],
  ["residualNorms", (m, i, o) => residualNorms(m, i, o)],
  ["attentionPatterns", (m, i, o) => attentionPatterns(m, i, o)],
  ["attentionDistance", (m, i, o) => attentionDistance(m, i, o)],
  ["moeRouting", (m, i, o) => moeRouting(m, i, o)],
  ["directLogitAttribution", (m, i, o) => directLogitAttribution(m, i, o)],
  ["logitDistribution", (m, i, o) => logitDistribution(m, i, o)],
  ["layerActivations", (m, i, o) => layerActivations(m, i, o)],
  ["embeddingPca", (m, i, o) => embeddingPca(m, i, o)],
]);

export function reproducibleProbes(): string[] {
  return [...PROBES.keys()];
}

function tableOfResult(result: object, key: string, name: string): Table {
  const t = (result as Record<string, unknown>)[key];
  if (!t || typeof (t as Table).objects !== "function") throw new ArgumentError("analysis.table", `is ${JSON.stringify(key)}, which ${name}'s result has no table of`, `use one of ${Object.keys(result).join(", ")}`);
  return t as Table;
}

async function runAnalysis(model: LanguageModel, analysis: AnalysisRecord): Promise<Table> {
  const probe = PROBES.get(analysis.name);
  if (!probe) throw new ArgumentError("analysis.name", `is ${JSON.stringify(analysis.name)}`, `use one of ${reproducibleProbes().join(", ")}`);
  return tableOfResult(await probe(model, analysis.input, analysis.options ?? {}), analysis.table ?? "table", analysis.name);
}

/** Runs a probe and exports one of its tables with the analysis record and the model's provenance. */
export async function exportAnalysis(model: LanguageModel, analysis: AnalysisRecord, format: TableFormat): Promise<string | Uint8Array> {
  const table = await runAnalysis(model, analysis);
  return exportTable(table, format, { analysis, provenance: await provenance(model) });
}

/** checkReproduction()'s verdict, cell counts, differing cells and provenance changes. */
export interface ReproductionResult {
  reproduced: boolean;
  /** Cells compared and cells that differ beyond the tolerance. */
  cells: number;
  mismatches: number;
  /** row, column, shared, rerun: the first differing cells (at most 20). */
  differences: Table;
  /** Provenance fields that differ between the export and now ("weights.sha256", "backend.name", …). */
  provenanceChanges: string[];
  shared: Provenance | null;
  now: Provenance;
  summary: string;
}

function sameCell(a: unknown, b: unknown, atol: number, rtol: number): boolean {
  if (typeof a === "number" && typeof b === "number") return a === b || Math.abs(a - b) <= atol + rtol * Math.abs(a) || (Number.isNaN(a) && Number.isNaN(b));
  if (typeof a === "bigint" || typeof b === "bigint") return Number(a) === Number(b);
  if ((a === null || a === undefined || a === "") && (b === null || b === undefined || b === "")) return true;
  if (typeof a === "number" && typeof b === "string") return sameCell(a, Number(b), atol, rtol);
  if (typeof a === "string" && typeof b === "number") return sameCell(Number(a), b, atol, rtol);
  return a === b || String(a) === String(b);
}

/**
 * Reruns what produced an export (CSV/JSON text, Arrow bytes, or a file path) on `model` and compares every cell
 * within atol + rtol·|value| (default 1e-4 each, verify's tolerance).
 */
export async function checkReproduction(exported: string | Uint8Array, model: LanguageModel, options: { atol?: number; rtol?: number } = {}): Promise<ReproductionResult> {
  const data = typeof exported === "string" && !/^\s*[[{#]/.test(exported) && fs.existsSync(exported) ? readFileForExport(exported) : exported;
  const { rows, metadata } = readExport(data);
  if (!metadata.analysis) throw new ArgumentError("exported", "carries no analysis record, so there is nothing to rerun", "export with exportAnalysis(model, { name, input, options }, format)");
  const [atol, rtol] = [options.atol ?? 1e-4, options.rtol ?? 1e-4];
  const rerun = (await runAnalysis(model, metadata.analysis)).objects() as Record<string, unknown>[];
  const differences = new ColumnBuilder(["row", "column", "shared", "rerun"] as const);
  let cells = 0;
  let mismatches = 0;
  const n = Math.max(rows.length, rerun.length);
  for (let r = 0; r < n; r++) {
    const a = rows[r] ?? {};
    const b = rerun[r] ?? {};
    for (const column of new Set([...Object.keys(a), ...Object.keys(b)])) {
      cells++;
      if (!sameCell(a[column], b[column], atol, rtol)) {
        mismatches++;
        if (differences.length < 20) differences.push({ row: r, column, shared: a[column] ?? null, rerun: b[column] ?? null });
      }
    }
  }
  const now = await provenance(model);
  const provenanceChanges = metadata.provenance ? provenanceDifferences(metadata.provenance, now) : ["(the export carries no provenance)"];
  const reproduced = mismatches === 0 && rows.length === rerun.length;
  const summary = `${reproduced ? "reproduced" : "NOT reproduced"}: ${cells - mismatches} of ${cells} cells agree within atol ${atol}, rtol ${rtol}` + (rows.length !== rerun.length ? ` (${rows.length} rows shared, ${rerun.length} now)` : "") + (provenanceChanges.length ? `; provenance differs in ${provenanceChanges.join(", ")}` : "; same provenance");
  return { reproduced, cells, mismatches, differences: differences.table(), provenanceChanges, shared: metadata.provenance ?? null, now, summary };
}

function readFileForExport(file: string): string | Uint8Array {
  const bytes = fs.readFileSync(file);
  // Arrow IPC files start with "ARROW1".
  return bytes.subarray(0, 6).toString("latin1") === "ARROW1" ? new Uint8Array(bytes) : bytes.toString("utf8");
}
