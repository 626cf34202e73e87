// HTML escaping, below every layer: display/ renders charts, tables and reports with it, and verify/ its result's
// HTML table. Notebooks and reports are shared, so a token such as "</script><script>alert(1)</script>" must show as
// text, never run.

export const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  // Braces as entities: template engines on pages that embed a report (Angular, Vue, Jinja in a static-site
  // generator) would otherwise evaluate "{{ … }}" found in a token.
  "{": "&#123;",
  "}": "&#125;",
  "`": "&#96;",
};

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'{}`]/g, (c) => HTML_ESCAPES[c]);
}
