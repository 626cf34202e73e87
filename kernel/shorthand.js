"use strict";
// Object shorthand naming an earlier cell's binding (`{ clean }` after `const clean = …` in another cell) throws
// a ReferenceError in tslab: tslab keeps earlier cells' top-level bindings as properties of an `exports` object
// and rewrites each identifier that refers to one into `exports.name`, but a shorthand property's name is the
// property's own symbol, so it is left as a bare name that does not exist at run time. Spelling the property
// out (`{ clean: clean }`) means the same thing everywhere shorthand may appear (object literals, destructuring
// assignments, `{ clean = 1 } = …` defaults), and tslab then rewrites the value as it does any other reference.

/**
 * Rewrites each shorthand property of `src` whose name is in `earlier` (the names earlier cells bound) to
 * `name: name`. Returns the new source and the insertions made (offset in `src` and length), which
 * `originalColumn` uses to point diagnostics back at the cell as written.
 */
function expandShorthand(ts, src, earlier) {
  if (earlier.size === 0 || !src.includes("{")) return { code: src, insertions: [] };
  const file = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const at = [];
  const visit = (node) => {
    if (ts.isShorthandPropertyAssignment(node) && earlier.has(node.name.text)) at.push({ offset: node.name.end, text: `: ${node.name.text}` });
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (at.length === 0) return { code: src, insertions: [] };
  at.sort((a, b) => a.offset - b.offset);
  let code = "";
  let from = 0;
  for (const { offset, text } of at) {
    code += src.slice(from, offset) + text;
    from = offset;
  }
  code += src.slice(from);
  const insertions = at.map(({ offset, text }) => {
    const line = src.slice(0, offset).split("\n").length - 1;
    return { line, column: offset - (src.lastIndexOf("\n", offset - 1) + 1), length: text.length };
  });
  return { code, insertions };
}

/** The column (0-based) in the cell as written of `column` on `line` (0-based) of the expanded source. */
function originalColumn(insertions, line, column) {
  let shift = 0;
  for (const ins of insertions) {
    if (ins.line !== line) continue;
    const start = ins.column + shift;
    if (column < start) break;
    if (column < start + ins.length) return ins.column;
    shift += ins.length;
  }
  return column - shift;
}

module.exports = { expandShorthand, originalColumn };
