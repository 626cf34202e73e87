// Plain-text and JSON renderings of a VerifyResult (the CLI prints them; notebooks get the same table).
import type { VerifyResult } from "./verify";

export function formatVerifyTable(r: VerifyResult): string {
  const rows = Object.entries(r.tensors).map(([name, t]) => [
    name,
    t!.ok ? "ok" : "FAIL",
    Number.isFinite(t!.maxAbsDiff) ? t!.maxAbsDiff.toExponential(2) : String(t!.maxAbsDiff),
    Number.isFinite(t!.worstRatio) ? t!.worstRatio.toFixed(3) : String(t!.worstRatio),
    t!.problem ?? (t!.worstAt ? `worst at [${t!.worstAt.join(", ")}]` : ""),
  ]);
  const header = ["tensor", "", "max |diff|", "worst ratio", ""];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const out = [
    `lmprobe verify: ${r.model} (${r.modelType}) against ${r.reference}`,
    `tolerance |engine − reference| ≤ ${r.atol} + ${r.rtol}·|reference| (worst ratio ≤ 1 passes)`,
    "",
    line(header),
    ...rows.map(line),
  ];
  if (r.generated) {
    const g = r.generated;
    out.push("");
    for (const [label, run] of [["with kv cache", g.withCache], ["without kv cache", g.withoutCache]] as const) {
      const detail =
        run.divergedAt === null
          ? `all ${g.expected.length - g.promptLength} generated ids match`
          : `diverges at step ${run.divergedAt}: top-2 margin ${run.margin!.toExponential(2)} (${run.marginSource})${run.nearTie ? ", a near tie (reported, not failed)" : ""}`;
      out.push(`generated ids (${label}): ${run.ok ? "ok" : "FAIL"}  ${detail}`);
    }
  }
  out.push("", r.ok ? "PASS" : "FAIL");
  return out.join("\n");
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
    tensors: Object.fromEntries(
      Object.entries(r.tensors).map(([name, t]) => [
        name,
        { maxAbsDiff: finite(t!.maxAbsDiff), worstRatio: finite(t!.worstRatio), ok: t!.ok, shape: t!.shape, worstAt: t!.worstAt, ...(t!.problem ? { problem: t!.problem } : {}) },
      ]),
    ),
    generated: r.generated,
  };
}
