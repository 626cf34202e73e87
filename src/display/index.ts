// Public API of display/ (re-exported by src/index.ts): charts from probe tables, show(), tables, progress,
// offline reports.
export { Chart, type VegaLiteSpec } from "./chart";
export * from "./charts";
export { show, bundleOf, tableBundle, type Showable, type HasMimeBundle } from "./show";
export { configureDisplay, chartBundle, VEGALITE_MIME, type DisplayOptions } from "./bundle";
export { tableHtml, tableText, type TableHtmlOptions, type TableLike } from "./table-html";
export { renderSvg } from "./svg";
export { progress, type Progress, type ProgressOptions } from "./progress";
export { escapeHtml, jsonForScript, readableToken, joinByteTokens } from "./escape";
export { inNotebook } from "./notebook";
// Arquero itself, so a notebook in the lmprobe kernel can build and transform tables with no install of its own.
export * as aq from "arquero";
export { reportHtml, type ReportOptions, type ReportSection, type ReportItem } from "./report";
export { EXPLAINERS, explainerOf } from "./explainers";
export { aboutHtml, aboutText, withAbout, provenanceFor, type About } from "./about";
export type { ShowOptions } from "./show";
export { loadRun, reportFromRun, runFileOf, runTables, type RunFile } from "./run-file";
