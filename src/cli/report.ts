// `lmprobe report run.json [--out report.html] [--pdf report.pdf] [--static]`: renders a run file written by
// `lmprobe probe --json` again, with no model needed.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ArgumentError } from "../errors";
import { reportHtml } from "../display/report";
import { loadRun, reportFromRun } from "../display/run-file";
import { printPdf } from "./pdf";
import { checkOutPath } from "./probe";

const USAGE = "usage: lmprobe report <run.json> [--out report.html] [--pdf report.pdf] [--static]\n\nRenders the report of a run file written by `lmprobe probe --json`, with no model needed.";

export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let file: string | undefined;
  let out = "lmprobe-report.html";
  let pdf: string | undefined;
  let interactive = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      if (i + 1 >= args.length) throw new ArgumentError(a, "needs a value", USAGE);
      return args[++i];
    };
    if (a === "--out") out = value();
    else if (a === "--pdf") pdf = value();
    else if (a === "--static") interactive = false;
    else if (!a.startsWith("-") && file === undefined) file = a;
    else throw new ArgumentError(a, "is not an option of lmprobe report", USAGE);
  }
  if (!file) throw new ArgumentError("run.json", "is required", USAGE);
  checkOutPath(out);
  if (pdf) checkOutPath(pdf, "--pdf");
  const html = reportHtml(reportFromRun(loadRun(file), { interactive }));
  writeFileSync(out, html);
  console.log(`wrote ${path.resolve(out)} (${(html.length / 1024).toFixed(0)} KiB)`);
  if (pdf) {
    printPdf(out, pdf);
    console.log(`wrote ${path.resolve(pdf)}`);
  }
  return 0;
}
