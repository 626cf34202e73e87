// Arquero tables as HTML: token columns shown readably (spaces kept, BPE markers decoded), probability columns
// shaded so the eye finds the likely tokens, numbers rounded. Every cell is escaped.
import { escapeHtml, readableToken } from "./escape";

/** The part of an Arquero table this module reads. */
export interface TableLike {
  columnNames(): string[];
  numRows(): number;
  objects(options?: { limit?: number }): object[];
}

export function isTableLike(x: unknown): x is TableLike {
  const t = x as TableLike;
  return !!t && typeof t.columnNames === "function" && typeof t.numRows === "function" && typeof t.objects === "function";
}

/** How a table is shown: rows shown, columns shaded as probabilities. */
export interface TableHtmlOptions {
  /** Rows shown before "… n more rows" (default 50). */
  maxRows?: number;
  /** Columns shaded as probabilities in [0, 1] (default: names containing "prob", except log-probabilities). */
  shade?: string[];
  /** Columns shown as token text (default: names containing "token", except ids). */
  tokenColumns?: string[];
  /** Caption above the table. */
  caption?: string;
}

const TABLE_CSS =
  ".lmprobe-table{border-collapse:collapse;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}" +
  ".lmprobe-table th,.lmprobe-table td{border:1px solid #d0d7de;padding:2px 6px;text-align:right}" +
  ".lmprobe-table th{background:#f6f8fa}.lmprobe-table td.tok{text-align:left;white-space:pre}" +
  ".lmprobe-table caption{text-align:left;font-weight:600;padding:2px 0}";

export function defaultShadedColumns(names: string[]): string[] {
  return names.filter((n) => /prob/i.test(n) && !/log/i.test(n));
}

export function defaultTokenColumns(names: string[]): string[] {
  return names.filter((n) => /token|target|text/i.test(n) && !/_id$|ids?$/i.test(n));
}

export function formatCell(value: unknown): string {
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    if (!Number.isFinite(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(3) : value.toPrecision(4);
  }
  if (value === null || value === undefined) return "";
  return String(value);
}

// A blue whose strength is the probability; text turns white on the darkest cells so it stays legible in print.
function shadeStyle(p: number): string {
  const clamped = Math.min(1, Math.max(0, p));
  const text = clamped > 0.6 ? "color:#fff;" : "";
  return `background:rgba(8,81,156,${clamped.toFixed(3)});${text}`;
}

/** Renders a table as a standalone HTML fragment (with its own small stylesheet). */
export function tableHtml(table: TableLike, options: TableHtmlOptions = {}): string {
  const names = table.columnNames();
  const shaded = new Set(options.shade ?? defaultShadedColumns(names));
  const tokens = new Set(options.tokenColumns ?? defaultTokenColumns(names));
  const maxRows = options.maxRows ?? 50;
  const rows = table.objects({ limit: maxRows }) as Record<string, unknown>[];
  const head = names.map((n) => `<th>${escapeHtml(n)}</th>`).join("");
  const body = rows
    .map((row) => {
      const cells = names.map((n) => {
        const v = row[n];
        // A column named like a token holds tokens only when its values are strings (attention's `first_token` is a number).
        if (tokens.has(n) && typeof v === "string") return `<td class="tok">${escapeHtml(readableToken(v))}</td>`;
        const style = shaded.has(n) && typeof v === "number" && Number.isFinite(v) ? ` style="${shadeStyle(v)}"` : "";
        return `<td${style}>${escapeHtml(formatCell(v))}</td>`;
      });
      return `<tr>${cells.join("")}</tr>`;
    })
    .join("");
  const more = table.numRows() > rows.length ? `<p class="lmprobe-more">… ${table.numRows() - rows.length} more rows</p>` : "";
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : "";
  return `<div class="lmprobe-table-wrap"><style>${TABLE_CSS}</style><table class="lmprobe-table">${caption}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${more}</div>`;
}

/** A plain-text rendering (the text/plain face of a table). */
export function tableText(table: TableLike, maxRows = 20): string {
  const names = table.columnNames();
  const tokens = new Set(defaultTokenColumns(names));
  const rows = (table.objects({ limit: maxRows }) as Record<string, unknown>[]).map((r) => names.map((n) => (tokens.has(n) && typeof r[n] === "string" ? JSON.stringify(readableToken(r[n])) : formatCell(r[n]))));
  const widths = names.map((n, i) => Math.max(n.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  const more = table.numRows() > rows.length ? [`… ${table.numRows() - rows.length} more rows`] : [];
  return [line(names), ...rows.map(line), ...more].join("\n");
}
