// Writes the README's generated sections: the public API list (from src/index.ts and the doc comments it
// resolves to) and the list of hook points (from the table in src/model/hook-points.ts). Each lies between
// `<!-- NAME:start -->` and `<!-- NAME:end -->` markers. test/docs/public-api.test.ts fails when the README
// differs from what this writes.
//
//   node --import tsx scripts/docs/readme-sections.ts          rewrite README.md
//   node --import tsx scripts/docs/readme-sections.ts --check  exit 1 when README.md is out of date
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { HOOK_CONDITIONS, HOOK_POINTS, hookPointName } from "../../src/model/hook-points";
import { firstSentence, readPublicApi, type PublicName } from "./public-api";

export const README = path.resolve(__dirname, "..", "..", "README.md");

function valueLine(n: PublicName): string {
  const label = n.kind === "function" ? `${n.name}()` : n.kind === "class" ? `class ${n.name}` : n.name;
  return `- \`${label}\`: ${firstSentence(n.doc)}`;
}

/** The public API, one group after another: each value on a line with its doc's first sentence, then its types. */
export function apiListMarkdown(): string {
  const out: string[] = [];
  for (const group of readPublicApi()) {
    out.push(`**${group.title}**: ${group.about}`, "");
    const values = group.names.filter((n) => n.kind !== "type");
    const types = group.names.filter((n) => n.kind === "type");
    for (const n of values) out.push(valueLine(n));
    if (types.length > 0) out.push(`- types: ${types.map((t) => `\`${t.name}\``).join(", ")}`);
    out.push("");
  }
  return out.join("\n").trimEnd();
}

/** Every hook point: shorthand, full name, axes, which models have it, what it holds. */
export function hookPointsMarkdown(): string {
  const rows = HOOK_POINTS.map((p) => {
    const shorthand = [p.short, ...(p.aliases ?? [])].map((s) => `\`${s}\``).join(", ");
    const name = p.scope === "global" ? hookPointName(p) : `blocks.{l}.${p.name}`;
    return `| ${shorthand} | \`${name}\` | [${p.axes.join(", ")}] | ${HOOK_CONDITIONS[p.when].text} | ${p.about} |`;
  });
  return ["| shorthand | TransformerLens name | axes | exists on | holds |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}

/** `readme` with the text between each pair of markers replaced by its generated content. */
export function withGeneratedSections(readme: string): string {
  const sections: Record<string, string> = { "public-api": apiListMarkdown(), "hook-points": hookPointsMarkdown() };
  let out = readme;
  for (const [name, body] of Object.entries(sections)) {
    const start = `<!-- ${name}:start`;
    const end = `<!-- ${name}:end -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md lacks the markers "${start} … -->" and "${end}"`);
    const afterStart = out.indexOf("-->", from) + 3;
    out = `${out.slice(0, afterStart)}\n${body}\n${out.slice(to)}`;
  }
  return out;
}

if (require.main === module) {
  const current = readFileSync(README, "utf8");
  const wanted = withGeneratedSections(current);
  if (process.argv.includes("--check")) {
    if (current !== wanted) {
      console.error("README.md is out of date: run `npm run docs:readme`");
      process.exit(1);
    }
  } else if (current !== wanted) {
    writeFileSync(README, wanted);
    console.log("README.md: generated sections rewritten");
  }
}
