// What travels under every chart and table: a short "what this shows" note and a one-line provenance footer with
// the full record behind a details toggle (HTML), or the same as plain lines (text/plain).
import type { LanguageModel } from "../model/model";
import { onlyLoadedModel, provenanceIfReady, provenanceLine, type Provenance } from "../model/provenance";
import { escapeHtml } from "./escape";
import type { MimeBundle } from "./notebook";

export interface About {
  explainer?: string;
  provenance?: Provenance | null;
}

/**
 * The provenance to show: of `model` when given, else of the one model this process has loaded (null when several
 * are loaded and none was named, or while its files are still being hashed).
 */
export function provenanceFor(model?: LanguageModel): Provenance | null {
  const m = model ?? onlyLoadedModel();
  return m ? provenanceIfReady(m) : null;
}

export function aboutHtml(about: About): string {
  const parts: string[] = [];
  if (about.explainer) parts.push(`<details class="lmprobe-explainer"><summary>What this shows</summary><p>${escapeHtml(about.explainer)}</p></details>`);
  if (about.provenance) {
    const p = about.provenance;
    parts.push(
      `<details class="lmprobe-provenance" style="font-size:11px;color:#555"><summary>${escapeHtml(provenanceLine(p))}</summary><pre>${escapeHtml(JSON.stringify(p, null, 1))}</pre></details>`,
    );
  }
  return parts.join("");
}

export function aboutText(about: About): string {
  return [about.explainer ? `What this shows: ${about.explainer}` : "", about.provenance ? `Made with ${provenanceLine(about.provenance)}` : ""].filter(Boolean).join("\n");
}

/** `bundle` with the note and footer added to its HTML and text. */
export function withAbout(bundle: MimeBundle, about: About): MimeBundle {
  const html = aboutHtml(about);
  const text = aboutText(about);
  if (!html && !text) return bundle;
  const out: MimeBundle = { ...bundle };
  if (typeof out["text/html"] === "string") out["text/html"] = `${out["text/html"]}${html}`;
  if (typeof out["text/plain"] === "string") out["text/plain"] = `${out["text/plain"]}\n${text}`;
  return out;
}
