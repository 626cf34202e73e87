// The browser builds of Vega, Vega-Lite and vega-embed, read from node_modules (never a CDN, so a notebook or a
// report draws offline) and wrapped into one idempotent <script> body.
import { readFileSync } from "node:fs";
import path from "node:path";

// Resolving the package entry (an ES module) only finds its path; the UMD browser builds sit beside it.
const BUNDLES: Array<[pkg: string, file: string]> = [
  ["vega", "vega.min.js"],
  ["vega-lite", "vega-lite.min.js"],
  ["vega-embed", "vega-embed.min.js"],
];

let cached: string | undefined;

function readBundle(pkg: string, file: string): string {
  const source = readFileSync(path.join(path.dirname(require.resolve(pkg)), file), "utf8");
  // These sequences would end or alter the surrounding <script> element; the pinned builds contain none, and in
  // string literals the escaped forms mean the same.
  return source
    .replace(/<\/script/gi, "<\\/script")
    .replace(/<!--/g, "<\\!--")
    .replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
}

/**
 * JavaScript that defines window.vega, window.vegaLite and window.vegaEmbed once per page, then draws every chart
 * that queued itself on window.__lmprobeQueue. Inside the wrapper `define`, `module` and `exports` are local
 * undefined variables, so the UMD bundles attach to window even where requirejs is on the page (classic Notebook,
 * nbconvert's templates), where they would otherwise register as anonymous AMD modules and draw nothing.
 */
export function vegaLibrariesScript(): string {
  if (cached !== undefined) return cached;
  const parts = BUNDLES.map(([pkg, file]) => `/* ${pkg}/${file} */\n${readBundle(pkg, file)}\n`);
  cached = [
    "(function () {",
    "  var queue = window.__lmprobeQueue = window.__lmprobeQueue || [];",
    "  if (!window.vegaEmbed) {",
    "    (function (define, module, exports) {",
    ...parts,
    "    })();",
    "  }",
    "  while (queue.length) { try { queue.shift()(); } catch (e) { console.warn('lmprobe chart:', e); } }",
    "})();",
  ].join("\n");
  return cached;
}
