// Escaping for every place a string from a prompt, a tokenizer or a model file can land. Notebooks and reports
// are shared, so a token such as "</script><script>alert(1)</script>" must show as text, never run.

import { escapeHtml, HTML_ESCAPES } from "../html-escape";

export { escapeHtml };

const SCRIPT_UNSAFE = /[<>&{}\u2028\u2029]/g;

function escapeJsonString(text: string): string {
  return JSON.stringify(text).replace(SCRIPT_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function toScriptJson(value: unknown): string {
  if (typeof value === "string") return escapeJsonString(value);
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  const withToJSON = value as { toJSON?: () => unknown };
  if (typeof withToJSON.toJSON === "function") return toScriptJson(withToJSON.toJSON());
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined || typeof v === "function" ? "null" : toScriptJson(v))).join(",")}]`;
  const entries = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== "function");
  return `{${entries.map(([k, v]) => `${escapeJsonString(k)}:${toScriptJson(v)}`).join(",")}}`;
}

/**
 * Serialises a value as JSON that is safe inside an HTML <script> element: within strings "<", ">" and "&"
 * become \u escapes, so "</script>" and "<!--" cannot end or alter the script; so do braces (no "{{" for a
 * template engine to find) and U+2028/U+2029 (line terminators in older JavaScript). The result is still valid
 * JSON and a valid JavaScript expression with the same value.
 */
export function jsonForScript(value: unknown): string {
  return toScriptJson(value);
}

/**
 * Makes an SVG document produced by Vega safe to inline in HTML: Vega already escapes &, < and > in text and
 * attributes; this also turns braces into entities (see escapeHtml) and drops an XML prolog, which is not
 * allowed inside HTML.
 */
export function sanitizeSvgForHtml(svg: string): string {
  return svg.replace(/^<\?xml[^>]*\?>\s*/, "").replace(/[{}]/g, (c) => HTML_ESCAPES[c]);
}

/**
 * Prefixes every id an SVG defines (gradients, clip paths) and every reference to one, so that several charts on
 * one page, and a static chart beside its interactive twin, never resolve each other's "gradient_0".
 */
export function uniquifySvgIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
  if (ids.size === 0) return svg;
  return svg
    .replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${prefix}${id}"`)
    .replace(/url\(#([^)]+)\)/g, (m, id: string) => (ids.has(id) ? `url(#${prefix}${id})` : m))
    .replace(/href="#([^"]+)"/g, (m, id: string) => (ids.has(id) ? `href="#${prefix}${id}"` : m));
}

// Byte-level BPE (GPT-2, Llama 3, Qwen) maps bytes to printable code points; these are the ones a reader meets.
const BPE_MARKERS: Record<string, string> = { "Ġ": " ", "Ċ": "\n", "ĉ": "\t", "▁": " " };

/**
 * A token's text as a reader should see it: byte-level BPE markers (Ġ, Ċ, ▁) become the space, newline or tab
 * they stand for, then whitespace that would vanish in a label is made visible (newline ↵, tab →) and control
 * characters are shown as \uXXXX. Leading spaces stay, so " Paris" and "Paris" remain distinct tokens.
 */
export function readableToken(token: unknown): string {
  const text = String(token ?? "")
    .replace(/[ĠĊĉ▁]/g, (c) => BPE_MARKERS[c])
    .replace(/\r\n|\n|\r/g, "↵")
    .replace(/\t/g, "→")
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return text;
}

/** A token for an axis label, where a leading space is invisible: shown as a middle dot "·". */
export function labelToken(token: unknown): string {
  const text = readableToken(token);
  if (text.length === 0) return "∅";
  return text.replace(/^ +/, (spaces) => "·".repeat(spaces.length)).replace(/ +$/, (spaces) => "·".repeat(spaces.length));
}

const BYTE_TOKEN = /^(?:<0x[0-9A-Fa-f]{2}>)+$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Token texts of a sequence with byte tokens ("<0xE2>", what a token holding part of a character reads as) joined
 * back where they spell characters: in a run of byte tokens, the token that completes a character shows the
 * character(s), the ones before it keep their bytes. Never shows "\uFFFD"; other tokens pass through unchanged.
 */
export function joinByteTokens(tokens: readonly unknown[]): string[] {
  const out = tokens.map((t) => String(t ?? ""));
  let start = -1;
  let bytes: number[] = [];
  for (let i = 0; i < out.length; i++) {
    if (!BYTE_TOKEN.test(out[i])) {
      start = -1;
      bytes = [];
      continue;
    }
    if (start < 0) start = i;
    for (const m of out[i].matchAll(/<0x([0-9A-Fa-f]{2})>/g)) bytes.push(parseInt(m[1], 16));
    let text: string | null = null;
    try {
      text = utf8.decode(Uint8Array.from(bytes));
    } catch {
      text = null;
    }
    if (text !== null) {
      out[i] = text;
      start = -1;
      bytes = [];
    }
  }
  return out;
}
