#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, as JSON lines.
//   node bench/cpu-profile-top.mjs <dir-or-file> [count]
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const target = process.argv[2];
const count = Number(process.argv[3] ?? 30);
const file = statSync(target).isDirectory() ? path.join(target, readdirSync(target).find((f) => f.endsWith(".cpuprofile"))) : target;
const profile = JSON.parse(readFileSync(file, "utf8"));
const sampleTime = new Map();
profile.samples.forEach((id, i) => sampleTime.set(id, (sampleTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const self = new Map();
for (const node of profile.nodes) {
  const f = node.callFrame;
  const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + (sampleTime.get(node.id) ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, count)) {
  console.log(JSON.stringify({ self_ms: +(us / 1000).toFixed(1), share: +((100 * us) / total).toFixed(1), fn: key }));
}
