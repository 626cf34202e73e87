"use strict";
// Turns what went wrong in a cell into the content of a Jupyter `error` message ({ ename, evalue, traceback }):
// an exception (its stack frames inside notebook cells pointed back at the cells' own lines through the source
// maps of both compilation steps), or TypeScript's diagnostics (each with its line and the line's text).
const { inspect } = require("node:util");
const { originalColumn } = require("./shorthand");

/** Each cell runs as a script named `lmprobe-cell-<execution count>` (a sourceURL comment), so frames name it. */
const cellScriptName = (count) => `lmprobe-cell-${count}`;
const FRAME_IN_CELL = /lmprobe-cell-(\d+):(\d+):(\d+)/;

/**
 * What the kernel knows of each executed cell, by execution count: the source as written, the shorthand
 * insertions, the source maps, and the length of the wrapper tslab puts before the code on the first line.
 */
class CellRegistry {
  constructor() {
    this.cells = new Map();
  }
  add(count, record) {
    this.cells.set(count, record);
  }
  /** The cell position (1-based line and column, as written) of a frame position in the cell's script. */
  position(count, line, column) {
    const cell = this.cells.get(count);
    if (!cell || !cell.maps) return undefined;
    let line0 = line - 1;
    let col0 = column - 1;
    if (line0 === 0) col0 = Math.max(0, col0 - cell.prefixLength);
    const esm = cell.maps.cjs.findEntry(line0, col0);
    if (esm.originalLine === undefined) return undefined;
    const ts = cell.maps.esm.findEntry(esm.originalLine, esm.originalColumn);
    if (ts.originalLine === undefined) return undefined;
    // tslab compiles each cell after a one-line `export {};` that makes it a module.
    const srcLine = ts.originalLine - 1;
    if (srcLine < 0) return undefined;
    return { line: srcLine + 1, column: originalColumn(cell.insertions, srcLine, ts.originalColumn) + 1 };
  }
  sourceLine(count, line) {
    return this.cells.get(count)?.src.split("\n")[line - 1];
  }
}

/** A few lines of cell `count` around `line`, the way IPython quotes a cell, with an arrow at `line`. */
function excerpt(cells, count, line, column) {
  const out = [`Cell In[${count}], line ${line}:`];
  for (let l = Math.max(1, line - 2); l <= line; l++) {
    const text = cells.sourceLine(count, l);
    if (text === undefined) continue;
    out.push(`${l === line ? "--> " : "    "}${String(l).padStart(3)} | ${text}`);
  }
  if (column !== undefined) out.push(`${" ".repeat(10 + column - 1)}^`);
  return out;
}

/** Whether a stack frame is the kernel's own machinery (vm, tslab, this launcher) rather than the user's code. */
const isMachinery = (frame, machineryDirs) => /\(node:vm:|at node:vm:|sigintHandlersWrap/.test(frame) || machineryDirs.some((d) => frame.includes(d));

/**
 * The error content for a value thrown by a cell. Frames in notebook cells are rewritten to `Cell In[n], line
 * l:c`; frames below the cell (the kernel's own) are left out. An lmprobe error's `fix` is part of its message
 * (src/errors.ts); one that is not is added.
 */
function runtimeError(value, cells, machineryDirs) {
  const isError = value instanceof Error || (value && typeof value === "object" && typeof value.stack === "string" && "message" in value);
  const ename = isError ? String(value.name || value.constructor?.name || "Error") : "Uncaught";
  let evalue = isError ? String(value.message) : inspect(value);
  if (isError && typeof value.fix === "string" && !evalue.includes(value.fix)) evalue += `\n  fix: ${value.fix}`;
  const frames = [];
  let first;
  const stackLines = isError && typeof value.stack === "string" ? value.stack.split("\n").filter((l) => /^\s+at /.test(l)) : [];
  for (const frame of stackLines) {
    if (isMachinery(frame, machineryDirs)) break;
    const m = FRAME_IN_CELL.exec(frame);
    if (!m) {
      frames.push(frame);
      continue;
    }
    const count = Number(m[1]);
    if (cells.cells.get(count)?.wrapperCallLine === Number(m[2])) continue; // tslab's call of the cell's wrapper
    const pos = cells.position(count, Number(m[2]), Number(m[3]));
    const where = pos ? `Cell In[${count}], line ${pos.line}:${pos.column}` : `Cell In[${count}]`;
    frames.push(frame.replace(FRAME_IN_CELL, where));
    if (!first && pos) first = { count, ...pos };
  }
  const traceback = [];
  if (first) traceback.push(...excerpt(cells, first.count, first.line, first.column), "");
  traceback.push(`${ename}: ${evalue}`, ...frames);
  return { ename, evalue, traceback };
}

/**
 * The error content for TypeScript's diagnostics of cell `count` (tslab's { fileName, start: { line, character },
 * messageText }; fileName is set for a diagnostic in another file). The cell did not run.
 */
function typeCheckError(diagnostics, cells, count, insertions) {
  const lines = [];
  const summary = [];
  for (const d of diagnostics) {
    const line = d.start.line + 1;
    if (d.fileName) {
      const text = `${d.fileName} ${line}:${d.start.character + 1} - ${d.messageText}`;
      lines.push(text);
      summary.push(text);
      continue;
    }
    const column = originalColumn(insertions, d.start.line, d.start.character) + 1;
    summary.push(`line ${line}:${column} - ${d.messageText}`);
    lines.push(...excerpt(cells, count, line, column), `TypeScript: ${d.messageText}`, "");
  }
  const evalue = summary.length === 1 ? summary[0] : `${summary[0]} (and ${summary.length - 1} more)`;
  return { ename: "TSError", evalue, traceback: [...lines, `TSError: the cell did not run (${summary.length} type error${summary.length === 1 ? "" : "s"})`] };
}

module.exports = { CellRegistry, cellScriptName, runtimeError, typeCheckError };
