// A standalone, offline HTML report: one file holding every analysis as a section, its charts (static SVG,
// turned interactive by the Vega libraries inlined once in the page) and tables. It needs no network and no
// server: a Content-Security-Policy forbids every fetch, so a chart that tried to load anything would fail
// visibly in the tests rather than silently online.
import type { Provenance } from "../model/provenance";
import { aboutHtml } from "./about";
import { Chart } from "./chart";
import { chartHtml } from "./chart-html";
import { escapeHtml } from "./escape";
import { newDisplayId } from "./notebook";
import { isTableLike, tableHtml, type TableHtmlOptions, type TableLike } from "./table-html";

/** What a report section holds: a chart, a table, text or a note. */
export type ReportItem = Chart | TableLike | { table: TableLike; options?: TableHtmlOptions } | { text: string } | { note: string };

/** One section of a report: title, introduction, items. */
export interface ReportSection {
  title: string;
  /** A sentence or two telling the reader what to look for (plain text). */
  intro?: string;
  items: ReportItem[];
}

/** Options of reportHtml(): title, facts, sections, whether charts are interactive. */
export interface ReportOptions {
  title: string;
  /** Facts shown under the title: model, prompt, backend… (plain text). */
  facts?: Array<[string, string]>;
  sections: ReportSection[];
  /** Inline the Vega libraries for interactive charts (default true); off, charts stay static SVG. */
  interactive?: boolean;
  /** What made the report: shown as one line under the title, the whole record behind a toggle. */
  provenance?: Provenance | null;
}

const PAGE_CSS = `
body{font:14px/1.5 "DejaVu Sans",Helvetica,Arial,"Noto Sans CJK SC","Noto Sans CJK JP","Noto Color Emoji",sans-serif;margin:0;color:#1f2328}
header{padding:16px 24px;border-bottom:1px solid #d0d7de;background:#f6f8fa}
header h1{margin:0 0 6px;font-size:20px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace}
nav{padding:8px 24px;border-bottom:1px solid #d0d7de;position:sticky;top:0;background:#fff;z-index:1}
nav a{margin-right:16px;color:#0969da;text-decoration:none}
main{padding:0 24px 48px}section{padding-top:16px}section h2{font-size:17px;margin:8px 0}
p.intro{max-width:60em;color:#444}p.note{color:#9a6700}pre.text{background:#f6f8fa;padding:8px;white-space:pre-wrap}
`;

// A CSP for a file opened from disk: inline scripts and styles only (Vega compiles its expressions with
// Function, hence 'unsafe-eval'), images from data: URLs (chart export), nothing from any network.
const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:";

function itemHtml(item: ReportItem, libraries: { pending: boolean }): string {
  if (item instanceof Chart) {
    const html = chartHtml(newDisplayId(), item.spec, item.toSvg(), { includeLibraries: libraries.pending });
    libraries.pending = false;
    return html + aboutHtml({ explainer: item.explainer });
  }
  if (isTableLike(item)) return tableHtml(item);
  if ("table" in item) return tableHtml(item.table, item.options);
  if ("text" in item) return `<pre class="text">${escapeHtml(item.text)}</pre>`;
  return `<p class="note">${escapeHtml(item.note)}</p>`;
}

/** The whole report as one HTML document. */
export function reportHtml(options: ReportOptions): string {
  const libraries = { pending: options.interactive !== false };
  const sections = options.sections.map((s, i) => {
    const body = s.items.map((item) => itemHtml(item, libraries)).join("\n");
    const intro = s.intro ? `<p class="intro">${escapeHtml(s.intro)}</p>` : "";
    return `<section id="section-${i}"><h2>${escapeHtml(s.title)}</h2>${intro}${body}</section>`;
  });
  const nav = options.sections.map((s, i) => `<a href="#section-${i}">${escapeHtml(s.title)}</a>`).join("");
  const facts = (options.facts ?? []).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("");
  return [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(options.title)}</title><style>${PAGE_CSS}</style></head><body>`,
    `<header><h1>${escapeHtml(options.title)}</h1>${facts ? `<dl class="facts">${facts}</dl>` : ""}${aboutHtml({ provenance: options.provenance })}</header>`,
    `<nav>${nav}</nav>`,
    `<main>${sections.join("\n")}</main>`,
    "</body></html>",
    "",
  ].join("\n");
}
