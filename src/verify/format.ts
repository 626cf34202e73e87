// Plain-text, HTML and JSON renderings of a VerifyResult: the CLI prints the text or the JSON, a notebook shows
// the HTML (show(await verify(model, ref))), and all three hold the same rows.
import { escapeHtml } from "../html-escape";
import type { VerifyResult } from "./verify";

/** One row per compared tensor: name, "ok"/"FAIL", max |diff|, worst ratio, and the worst index or the problem. */
export function verifyRows(r: VerifyResult): [tensor: string, status: string, maxAbsDiff: string, worstRatio: string, detail: string][] {
  return Object.entries(r.tensors).map(([name, t]) => [
    name,
    t!.ok ? "ok" : "FAIL",
    Number.isFinite(t!.maxAbsDiff) ? t!.maxAbsDiff.toExponential(2) : String(t!.maxAbsDiff),
    Number.isFinite(t!.worstRatio) ? t!.worstRatio.toFixed(3) : String(t!.worstRatio),
    t!.problem ?? (t!.worstAt ? `worst at [${t!.worstAt.join(", ")}]` : ""),
  ]);
}

/** One row per generation run (with and without the key/value cache): label, "ok"/"FAIL", what happened. */
export function generationRows(r: VerifyResult): [label: string, status: string, detail: string][] {
  const g = r.generated;
  if (!g) return [];
  return ([["with kv cache", g.withCache], ["without kv cache", g.withoutCache]] as const).map(([label, run]) => [
    `generated ids (${label})`,
    run.ok ? "ok" : "FAIL",
    run.divergedAt === null
      ? `all ${g.expected.length - g.promptLength} generated ids match`
      : `diverges at step ${run.divergedAt}: top-2 margin ${run.margin!.toExponential(2)} (${run.marginSource})${run.nearTie ? ", a near tie (reported, not failed)" : ""}`,
  ]);
}

function titleLine(r: VerifyResult): string {
  return `lmprobe verify: ${r.model} (${r.modelType}) against ${r.reference}`;
}

function toleranceLine(r: VerifyResult): string {
  return `tolerance |engine − reference| ≤ ${r.atol} + ${r.rtol}·|reference| (worst ratio ≤ 1 passes)`;
}

/** A verify result as the plain-text table `lmprobe verify` prints. */
export function formatVerifyTable(r: VerifyResult): string {
  const rows = verifyRows(r);
  const header = ["tensor", "", "max |diff|", "worst ratio", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const out = [titleLine(r), toleranceLine(r), "", line(header), ...rows.map(line)];
  const generated = generationRows(r);
  if (generated.length > 0) out.push("", ...generated.map(([label, status, detail]) => `${label}: ${status}  ${detail}`));
  if (r.nonFinite) out.push("", `warning: ${r.nonFinite.message}`);
  out.push("", r.ok ? "PASS" : "FAIL");
  return out.join("\n");
}

const CSS =
  ".lmprobe-verify table{border-collapse:collapse;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}" +
  ".lmprobe-verify th,.lmprobe-verify td{border:1px solid #d0d7de;padding:2px 6px;text-align:left}" +
  ".lmprobe-verify th{background:#f6f8fa}.lmprobe-verify td.num{text-align:right}" +
  ".lmprobe-verify .fail{color:#b31d28;font-weight:600}.lmprobe-verify .ok{color:#1a7f37}" +
  ".lmprobe-verify .verdict{font:600 14px sans-serif;margin:4px 0}";

/** The same table as formatVerifyTable, as an HTML fragment; every string from the model or the file is escaped. */
export function verifyHtml(r: VerifyResult): string {
  const status = (s: string) => `<td class="${s === "ok" ? "ok" : "fail"}">${escapeHtml(s)}</td>`;
  const tensorRows = verifyRows(r).map(
    ([name, s, diff, ratio, detail]) =>
      `<tr><td>${escapeHtml(name)}</td>${status(s)}<td class="num">${escapeHtml(diff)}</td><td class="num">${escapeHtml(ratio)}</td><td>${escapeHtml(detail)}</td></tr>`,
  );
  const genRows = generationRows(r).map(([label, s, detail]) => `<tr><td>${escapeHtml(label)}</td>${status(s)}<td colspan="3">${escapeHtml(detail)}</td></tr>`);
  return [
    `<div class="lmprobe-verify"><style>${CSS}</style>`,
    `<div>${escapeHtml(titleLine(r))}</div>`,
    `<div>${escapeHtml(toleranceLine(r))}</div>`,
    "<table><thead><tr><th>tensor</th><th>ok</th><th>max |diff|</th><th>worst ratio</th><th>worst index</th></tr></thead>",
    `<tbody>${[...tensorRows, ...genRows].join("")}</tbody></table>`,
    r.nonFinite ? `<div class="fail">warning: ${escapeHtml(r.nonFinite.message)}</div>` : "",
    `<div class="verdict ${r.ok ? "ok" : "fail"}">${r.ok ? "PASS" : "FAIL"}</div></div>`,
  ].join("");
}

/** The notebook display bundle of a verify result: the HTML table and the text table. */
export function verifyBundle(r: VerifyResult): { "text/html": string; "text/plain": string } {
  return { "text/html": verifyHtml(r), "text/plain": formatVerifyTable(r) };
}

/** The JSON the CLI prints with --json: { ok, tensors: { name: { maxAbsDiff, worstRatio, ok, … } }, generated }. */
export function verifyJson(r: VerifyResult): unknown {
  const finite = (n: number) => (Number.isFinite(n) ? n : String(n));
  return {
    ok: r.ok,
    model: r.model,
    modelType: r.modelType,
    reference: r.reference,
    atol: r.atol,
    rtol: r.rtol,
    ...(r.nonFinite ? { nonFinite: { ...r.nonFinite.site, value: String(r.nonFinite.site.value), message: r.nonFinite.message } } : {}),
    tensors: Object.fromEntries(
      Object.entries(r.tensors).map(([name, t]) => [
        name,
        { maxAbsDiff: finite(t!.maxAbsDiff), worstRatio: finite(t!.worstRatio), ok: t!.ok, shape: t!.shape, worstAt: t!.worstAt, ...(t!.problem ? { problem: t!.problem } : {}) },
      ]),
    ),
    generated: r.generated,
  };
}
