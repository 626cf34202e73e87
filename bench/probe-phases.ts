// Where the CPU probe's time goes, in steady passes: the probe of bench/cpu-vs-torch.mjs split into its phases
// (forward keeping the residual stream, logit lens, layer similarity), and onnxruntime's calls per kind of op
// (backend/native/runtime.ts's nativeCallLog) over the same passes. One JSON line per phase and per kind of call.
//
//   node --require ./bench/native-deps.cjs --import tsx bench/probe-phases.ts [--model demo|gpt2-small|qwen2.5-1.5b]
//        [--positions 128] [--reps 30] [--warmup-s 4] [--ort-profile DIR]
//   (LMPROBE_THREADS / LMPROBE_BACKEND as for any lmprobe process; bench/native-deps.cjs loads Arquero as the built
//   package does: without it the probe's table builders are recompiled after nearly every pass)
// --ort-profile DIR: onnxruntime's per-node profile of every session (files in DIR), summarised as one JSON line per
// session and node: its median time per call and, times the session's calls per probe, per probe.
import { ensureBackend } from "../src/backend";
import fs from "node:fs";
import path from "node:path";
import { endNativeProfiling, nativeCallLog, nativeProfile } from "../src/backend/native/runtime";
import { logitLensFromCache } from "../src/probe/logit-lens";
import { layerSimilarityFromCache } from "../src/probe/layer-similarity";
import { residualHookNames } from "../src/probe/residual-rows";
import { loadBenchModel } from "./cpu-bench-models";

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const name = opt("model", "demo");
  const T = Number(opt("positions", "128"));
  const reps = Number(opt("reps", "30"));
  const warmupS = Number(opt("warmup-s", "4"));
  const profileDir = opt("ort-profile", "");
  if (profileDir) {
    fs.mkdirSync(profileDir, { recursive: true });
    nativeProfile.dir = path.resolve(profileDir);
  }
  const backend = await ensureBackend();
  const { model } = await loadBenchModel(name);
  const L = model.config.numLayers;
  const ids = Array.from({ length: T }, (_, i) => 1 + ((i * 7919) % (model.config.vocabSize - 1)));
  const names = new Set(residualHookNames(L));
  const times: Record<string, number[]> = { forward_cached: [], lens: [], similarity: [], probe: [] };
  const probe = async (record: boolean) => {
    const a = performance.now();
    const run = model.run(ids, { cache: (n: string) => names.has(n), lastPositionOnly: true });
    await run.logits.data();
    const b = performance.now();
    await logitLensFromCache(model, run.cache, run.tokens[0], { k: 5, targets: [ids[T - 1]] });
    const c = performance.now();
    await layerSimilarityFromCache(run.cache, L);
    const d = performance.now();
    run.dispose();
    if (!record) return;
    times.forward_cached.push(b - a);
    times.lens.push(c - b);
    times.similarity.push(d - c);
    times.probe.push(d - a);
  };
  const start = performance.now();
  for (let i = 0; i < 2 || performance.now() - start < warmupS * 1000; i++) await probe(false);
  nativeCallLog.enabled = true;
  nativeCallLog.sessions.clear();
  for (let r = 0; r < reps; r++) await probe(true);
  nativeCallLog.enabled = false;
  const common = { model: name, positions: T, backend, threads: process.env.LMPROBE_THREADS ?? "default", reps, warmup_s: warmupS };
  // The spread too: a median can hide a tail (a pass that meets a garbage collection, a thread that wakes late).
  const at = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.round(q * (xs.length - 1))];
  for (const [phase, xs] of Object.entries(times)) console.log(JSON.stringify({ ...common, phase, median_ms: +median(xs).toFixed(2), p10_ms: +at(xs, 0.1).toFixed(2), p90_ms: +at(xs, 0.9).toFixed(2) }));
  const sessions = [...nativeCallLog.sessions].sort((a, b) => b[1].ms - a[1].ms);
  const total = sessions.reduce((sum, [, e]) => sum + e.ms, 0);
  console.log(JSON.stringify({ ...common, phase: "native calls", calls_per_probe: +(sessions.reduce((n, [, e]) => n + e.calls, 0) / reps).toFixed(1), ms_per_probe: +(total / reps).toFixed(2) }));
  for (const [session, e] of sessions) {
    console.log(JSON.stringify({ ...common, phase: "native calls", session, calls_per_probe: +(e.calls / reps).toFixed(1), ms_per_probe: +(e.ms / reps).toFixed(3) }));
  }
  if (profileDir) {
    endNativeProfiling();
    const callsPerProbe = new Map(sessions.map(([session, e]) => [session, e.calls / reps]));
    for (const line of nodeProfile(nativeProfile.dir as string, callsPerProbe)) console.log(JSON.stringify({ ...common, ...line }));
  }
  model.dispose();
}

/**
 * Per session and node, from onnxruntime's profile files: the median of the node's time over the calls profiled
 * (warm-up included, hence medians) and that times the session's calls per probe.
 */
function nodeProfile(dir: string, callsPerProbe: Map<string, number>): object[] {
  const lines: Array<{ phase: string; session: string; node: string; op: string; median_us: number; ms_per_probe: number }> = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const session = [...callsPerProbe.keys()].find((key) => file.startsWith(key.replace(/[^A-Za-z0-9_.-]/g, "_") + "_"));
    if (!session) continue;
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>;
    const byNode = new Map<string, { op: string; durs: number[] }>();
    for (const e of events) {
      if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
      const node = e.name.slice(0, -"_kernel_time".length);
      const entry = byNode.get(node) ?? { op: e.args?.op_name ?? "", durs: [] };
      entry.durs.push(e.dur);
      byNode.set(node, entry);
    }
    for (const [node, { op, durs }] of byNode) {
      const us = median(durs);
      lines.push({ phase: "onnxruntime node", session, node, op, median_us: us, ms_per_probe: +((us * (callsPerProbe.get(session) ?? 0)) / 1000).toFixed(3) });
    }
  }
  return lines.sort((a, b) => b.ms_per_probe - a.ms_per_probe);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
