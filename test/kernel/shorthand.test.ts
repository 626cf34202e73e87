// The kernel's rewrite of object shorthand naming an earlier cell's binding (kernel/shorthand.js), checked on
// the source text; the e2e kernel test runs it through Jupyter.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

const root = path.resolve(__dirname, "..", "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ts = require(require.resolve("@tslab/typescript-for-tslab", { paths: [path.join(root, "node_modules", "tslab")] }));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { expandShorthand, originalColumn } = require(path.join(root, "kernel", "shorthand.js")) as {
  expandShorthand: (ts: unknown, src: string, earlier: Set<string>) => { code: string; insertions: Array<{ line: number; column: number; length: number }> };
  originalColumn: (ins: Array<{ line: number; column: number; length: number }>, line: number, column: number) => number;
};

test("only shorthand naming an earlier binding is spelled out, in literals, arrow bodies and destructuring", () => {
  const src = 'const o = { clean, fresh };\nconst f = () => ({ clean });\n({ clean = 1 } = o);\nconst s = "{ clean }";';
  const { code } = expandShorthand(ts, src, new Set(["clean"]));
  assert.equal(code, 'const o = { clean: clean, fresh };\nconst f = () => ({ clean: clean });\n({ clean: clean = 1 } = o);\nconst s = "{ clean }";');
});

test("nothing changes without earlier bindings or shorthand", () => {
  assert.deepEqual(expandShorthand(ts, "const a = { b: 1 };", new Set(["b"])), { code: "const a = { b: 1 };", insertions: [] });
  assert.deepEqual(expandShorthand(ts, "const a = { b };", new Set()), { code: "const a = { b };", insertions: [] });
});

test("columns of the expanded source map back to the cell as written", () => {
  const src = "const o = { a, b }; bad";
  const { code, insertions } = expandShorthand(ts, src, new Set(["a", "b"]));
  assert.equal(code, "const o = { a: a, b: b }; bad");
  assert.equal(originalColumn(insertions, 0, code.indexOf("bad")), src.indexOf("bad"));
  assert.equal(originalColumn(insertions, 0, code.indexOf("b:")), src.indexOf("b }"));
  assert.equal(originalColumn(insertions, 0, 3), 3);
  assert.equal(originalColumn(insertions, 1, 30), 30, "other lines are untouched");
});
