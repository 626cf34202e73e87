// A chart: a Vega-Lite spec built from a probe's table, with a one-line summary. show() puts it in the notebook.
import type { LanguageModel } from "../model/model";
import { provenanceFor, withAbout } from "./about";
import { chartBundle } from "./bundle";
import { inNotebook, sendDisplay, type MimeBundle } from "./notebook";
import { renderSvg } from "./svg";

/** A Vega-Lite specification, data inline. */
export type VegaLiteSpec = Record<string, unknown>;

/** A Vega-Lite chart with its one-line summary; show() renders it as one display message. */
export class Chart {
  constructor(
    /** The Vega-Lite spec (data inline), ready for vega-embed or the Vega-Lite MIME renderer. */
    readonly spec: VegaLiteSpec,
    /** One line describing the chart: its text/plain form. */
    readonly summary: string,
    /** What the chart shows and how to read it (display/explainers.ts), under the chart. */
    readonly explainer?: string,
  ) {}

  /** The static SVG, rendered by Vega in Node. */
  toSvg(): string {
    return renderSvg(this.spec);
  }

  /**
   * The display bundle (Vega-Lite JSON, SVG, HTML, plain text), with the explainer and the provenance of `model`
   * (default: the one loaded model, when there is exactly one) under it.
   */
  toBundle(options: { model?: LanguageModel } = {}): MimeBundle {
    return withAbout(chartBundle(this.spec, this.summary), { explainer: this.explainer, provenance: provenanceFor(options.model) });
  }

  /** Displays the chart in the notebook (one display message); outside a notebook prints the summary. */
  show(): void {
    if (!inNotebook() || !sendDisplay(this.toBundle())) console.log(this.summary);
  }

  toString(): string {
    return this.summary;
  }
}
