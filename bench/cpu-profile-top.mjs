#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, as JSON lines.
//   node bench/cpu-profile-top.mjs <dir-or-file> [count] [--last-ms N]
// --last-ms N: only the samples of the profile's last N ms (a steady loop after a long start-up, as
// bench/gpu/host-profile.sh records), and an inclusive line per function too (time with that function on the stack).
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const lastAt = args.indexOf("--last-ms");
const lastMs = lastAt >= 0 ? Number(args.splice(lastAt, 2)[1]) : null;
const [target, countArg] = args;
const count = Number(countArg ?? 30);
const file = statSync(target).isDirectory() ? path.join(target, readdirSync(target).find((f) => f.endsWith(".cpuprofile"))) : target;
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
const keyOf = (node) => {
  const f = node.callFrame;
  return `${f.functionName || "(anonymous)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
};
// Sample i lasts timeDeltas[i + 1] (the delta to the next sample); its time stamp is the running sum.
let clock = profile.startTime;
const stamps = profile.timeDeltas.map((d) => (clock += d));
const from = lastMs === null ? -Infinity : stamps[stamps.length - 1] - lastMs * 1000;
const self = new Map();
const inclusive = new Map();
profile.samples.forEach((id, i) => {
  if (stamps[i] < from) return;
  const us = profile.timeDeltas[i + 1] ?? 0;
  const key = keyOf(byId.get(id));
  self.set(key, (self.get(key) ?? 0) + us);
  if (lastMs === null) return;
  const seen = new Set();
  for (let n = id; n !== undefined; n = parentOf.get(n)) {
    const k = keyOf(byId.get(n));
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    seen.add(k);
  }
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, count)) {
  console.log(JSON.stringify({ self_ms: +(us / 1000).toFixed(1), share: +((100 * us) / total).toFixed(1), fn: key }));
}
for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, count)) {
  console.log(JSON.stringify({ inclusive_ms: +(us / 1000).toFixed(1), share: +((100 * us) / total).toFixed(1), fn: key }));
}
