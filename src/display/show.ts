// show(x): the one call that puts any lmprobe result in the notebook, as one display message.
import { ArgumentError } from "../errors";
import type { LanguageModel } from "../model/model";
import { provenanceFor, withAbout } from "./about";
import { Chart } from "./chart";
import { inNotebook, sendDisplay, type MimeBundle } from "./notebook";
import { isTableLike, tableHtml, tableText, type TableHtmlOptions, type TableLike } from "./table-html";
import { escapeHtml } from "./escape";
import type { CausalTraceResult } from "../intervene/causal-trace";
import type { PatchingResult } from "../intervene/patching-result";
import type { PatchingComparison } from "../intervene/patching-comparison";
import type { TokenAttribution } from "../probe/token-attribution";
import { activationPatchingChart, attributionComparisonChart, causalTraceChart } from "./charts/patching";
import { tokenAttributionResultChart } from "./charts/token-attribution";

/**
 * A result that renders itself (a verify result): `toMimeBundle()` returns the bundle of one display message, with
 * at least text/plain. Results keep their own rendering, so display/ needs no knowledge of them.
 */
export interface HasMimeBundle {
  toMimeBundle(): MimeBundle;
}

/** Results show() knows by their `kind`, and the chart each one is drawn as. */
export type KnownResult = PatchingResult | CausalTraceResult | PatchingComparison | TokenAttribution;

const CHART_OF_KIND: Record<KnownResult["kind"], (result: never) => Chart> = {
  "activation-patching": (r: PatchingResult) => activationPatchingChart(r),
  "causal-trace": (r: CausalTraceResult) => causalTraceChart(r),
  "attribution-comparison": (r: PatchingComparison) => attributionComparisonChart(r),
  "token-attribution": (r: TokenAttribution) => tokenAttributionResultChart(r),
};

/** The chart of a result show() knows by its kind, or undefined for anything else. */
export function chartOfResult(x: unknown): Chart | undefined {
  const kind = (x as { kind?: unknown } | null)?.kind;
  if (typeof kind !== "string" || !Object.hasOwn(CHART_OF_KIND, kind)) return undefined;
  return (CHART_OF_KIND[kind as KnownResult["kind"]] as (r: unknown) => Chart)(x);
}

/**
 * Anything show() can display: a chart, an Arquero table, an intervention result (drawn by its kind), an object
 * that makes a chart or renders itself, or text.
 */
export type Showable = Chart | TableLike | KnownResult | { toChart(): Chart } | HasMimeBundle | string;

/** show()'s options: a table's rendering, and the model whose provenance goes under the output. */
export interface ShowOptions extends TableHtmlOptions {
  /** The model that made what is shown (default: the one loaded model, when there is exactly one). */
  model?: LanguageModel;
}

/** The display bundle of a table: HTML with probability shading, and aligned plain text, with its provenance. */
export function tableBundle(table: TableLike, options: ShowOptions = {}): MimeBundle {
  return withAbout({ "text/html": tableHtml(table, options), "text/plain": tableText(table) }, { provenance: provenanceFor(options.model) });
}

function hasToChart(x: unknown): x is { toChart(): Chart } {
  return !!x && typeof (x as { toChart?: unknown }).toChart === "function";
}

function hasMimeBundle(x: unknown): x is HasMimeBundle {
  return !!x && typeof (x as { toMimeBundle?: unknown }).toMimeBundle === "function";
}

/** The display bundle of anything show() accepts. */
export function bundleOf(x: Showable, options: ShowOptions = {}): MimeBundle {
  if (x instanceof Chart) return x.toBundle(options);
  const ofKind = chartOfResult(x);
  if (ofKind) return ofKind.toBundle(options);
  if (hasMimeBundle(x)) {
    const bundle = x.toMimeBundle();
    if (!bundle || typeof bundle["text/plain"] !== "string") {
      throw new ArgumentError("x", `has a toMimeBundle() that returned no text/plain string (got ${describe(bundle)})`, 'return { "text/plain": …, "text/html": … } from toMimeBundle()');
    }
    return bundle;
  }
  if (hasToChart(x)) return x.toChart().toBundle(options);
  if (isTableLike(x)) return tableBundle(x, options);
  if (typeof x === "string") return { "text/html": `<pre>${escapeHtml(x)}</pre>`, "text/plain": x };
  throw new ArgumentError("x", `cannot be shown: expected a Chart, an Arquero table, a probe or verify result, or a string, got ${describe(x)}`, "pass a probe result, its table, or a chart built from it");
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  const ctor = (x as object).constructor?.name;
  return ctor && ctor !== "Object" ? `a ${ctor}` : typeof x;
}

/**
 * Displays a chart, a table or a probe result inline in the notebook as ONE display message (interactive chart,
 * static SVG, HTML, text). Outside a notebook it prints the text form.
 */
export function show(x: Showable, options: ShowOptions = {}): void {
  if (!inNotebook()) {
    const chart = x instanceof Chart ? x : chartOfResult(x) ?? (hasToChart(x) ? x.toChart() : undefined);
    const bundle = chart ? { "text/plain": chart.summary } : bundleOf(x, options);
    console.log(bundle["text/plain"]);
    return;
  }
  sendDisplay(bundleOf(x, options));
}
