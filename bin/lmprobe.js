#!/usr/bin/env node
"use strict";
// The `lmprobe` command. The implementation lives in src/cli (compiled to dist/cjs/cli).
require("../dist/cjs/cli/main.js").main(process.argv.slice(2)).then(
  (code) => process.exit(code ?? 0),
  (err) => {
    console.error(err && err.message ? `lmprobe: ${err.message}` : err);
    process.exit(1);
  },
);
