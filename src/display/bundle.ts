// A chart as one notebook display bundle: the Vega-Lite spec (JupyterLab and VS Code draw it interactively), the
// static SVG (GitHub, nbviewer, nbconvert with no JavaScript), text/html holding that same SVG plus the embed
// script (classic Notebook, exported HTML), and a one-line text/plain summary. Raster charts (dense heatmaps drawn
// as PNG) carry their images once: see chartBundle.
import { chartHtml, imageUrlsOf } from "./chart-html";
import { newDisplayId, type MimeBundle } from "./notebook";
import { renderSvg } from "./svg";

export const VEGALITE_MIME = "application/vnd.vegalite.v5+json";

/** Session-wide display settings for configureDisplay(). */
export interface DisplayOptions {
  /**
   * Inline the Vega browser libraries (about 830 KB) into the first chart of the session so that charts turn
   * interactive where scripts run. Off, charts show their static SVG only and the notebook stays small.
   * Default: on, unless the environment variable LMPROBE_INLINE_VEGA is "0".
   */
  inlineLibraries: boolean;
}

const options: DisplayOptions = { inlineLibraries: process.env.LMPROBE_INLINE_VEGA !== "0" };
let librariesSent = false;

/** Changes how charts are displayed for the rest of the session; returns the options now in force. */
export function configureDisplay(changes: Partial<DisplayOptions> = {}): DisplayOptions {
  Object.assign(options, changes);
  return { ...options };
}

/** Forget that the libraries were sent (a new page, e.g. a fresh report, must carry them again). */
export function resetLibrariesSent(): void {
  librariesSent = false;
}

/**
 * Builds the four-MIME bundle of a Vega-Lite spec. The libraries ride along with the first bundle of the session
 * only; every bundle still draws its SVG alone.
 */
export function chartBundle(spec: object, summary: string): MimeBundle {
  const svg = renderSvg(spec);
  const includeLibraries = options.inlineLibraries && !librariesSent;
  const html = chartHtml(newDisplayId(), spec, svg, { includeLibraries });
  if (includeLibraries) librariesSent = true;
  const images = imageUrlsOf(spec);
  if (images.length > 0) {
    // A raster chart: its drawing is PNG data, carried once in the HTML (the static SVG holds the image, the
    // interactive spec refers to it) and, when it is one image, as image/png for front ends that show no HTML.
    // The Vega-Lite and SVG entries would each carry every image again, so they are left out: JupyterLab, VS Code
    // and the classic Notebook draw the text/html entry, interactive where its script runs.
    return {
      "text/html": html,
      ...(images.length === 1 ? { "image/png": images[0].slice("data:image/png;base64,".length) } : {}),
      "text/plain": summary,
    };
  }
  return {
    [VEGALITE_MIME]: spec,
    "image/svg+xml": svg,
    "text/html": html,
    "text/plain": summary,
  };
}
