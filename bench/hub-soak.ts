// Soak of hub loading under injected faults: loads and probes of the demo model and a tiny fixture through the
// loopback hub server of the tests, whose GETs and HEADs fail at random (seeded): dropped connections, stalls,
// truncated bodies (with and without an announced size), altered bytes, 5xx answers. Every load ends in one of:
// succeeded (and its downloaded files and probe numbers equal those of the local checkpoint), failed with a
// typed LmprobeError, failed otherwise (untyped), hung (past --op-timeout), or returned wrong data. The last
// three must be zero; the exit status says whether they were.
//
//   node --import tsx bench/hub-soak.ts [--sequential 200] [--concurrent 20] [--seed 18] [--backend wasm]
//                                       [--fault-rate 0.12] [--max-seconds 900] [--out FILE]
//
// Sequential: one load at a time, alternating the two models and two servers (A announces sizes and honours
// Range; B announces no size, so a cut body ends like a whole one), a fresh cache each time except every fourth
// load, which reuses the previous cache (a cache hit, or the repair of what a failed load left). Concurrent: all
// loads at once into one shared cache (the per-blob lock and per-writer temporary files). Processes: --processes
// Node processes downloading one model into one cache at once, --process-rounds times. Loopback only.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs-core";
import { LmprobeError } from "../src/errors";
import { loadModel } from "../src/load";
import type { LanguageModel } from "../src/model/model";
import { seededRandom } from "../src/model/sampling";
import { logitLens } from "../src/probe/logit-lens";
import { startHubServer, type HubServer } from "../test/io/hub-server";

const ROOT = path.resolve(__dirname, "..");
const REPOS: Record<string, string> = { "lmprobe/demo": path.join(ROOT, "models/lmprobe-demo"), "tiny/llama": path.join(ROOT, "test/fixtures/tiny/llama") };
const IDS = Object.keys(REPOS);
const PROMPT = "The capital of France is";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const sequentialCount = Number(arg("--sequential", "200"));
const concurrentCount = Number(arg("--concurrent", "20"));
const seed = Number(arg("--seed", "18"));
const backend = arg("--backend", "wasm") as "wasm" | "cpu";
const faultRate = Number(arg("--fault-rate", "0.12"));
const maxSeconds = Number(arg("--max-seconds", "900"));
const opTimeoutMs = Number(arg("--op-timeout", "120000"));
const processCount = Number(arg("--processes", "4"));
const processRounds = Number(arg("--process-rounds", "5"));

type Outcome = "succeeded" | "typedError" | "untypedError" | "hung" | "wrongData";

interface Tally {
  ops: number;
  succeeded: number;
  typedError: number;
  untypedError: number;
  hung: number;
  wrongData: number;
  errorsByClass: Record<string, number>;
  examples: string[];
  seconds: number;
}

const newTally = (): Tally => ({ ops: 0, succeeded: 0, typedError: 0, untypedError: 0, hung: 0, wrongData: 0, errorsByClass: {}, examples: [], seconds: 0 });

/** What a correct load gives: the probe's numbers on the local checkpoint. */
async function fingerprint(model: LanguageModel): Promise<string> {
  const lens = await logitLens(model, PROMPT, { k: 3, positions: "all" });
  const s = lens.stats.map(({ layer, stats }) => [layer, Array.from(stats.topIds), Array.from(stats.topProbs), Array.from(stats.entropy)]);
  return JSON.stringify({ s, nonFinite: lens.nonFinite });
}

/** The snapshot's files equal the hub's. */
function sameFiles(snapshot: string, source: string): string | null {
  for (const f of fs.readdirSync(snapshot)) {
    if (!fs.readFileSync(path.join(snapshot, f)).equals(fs.readFileSync(path.join(source, f)))) return f;
  }
  return null;
}

const faults: Record<string, number> = {};
function faultPlan(rand: () => number) {
  const count = (kind: string) => (faults[kind] = (faults[kind] ?? 0) + 1);
  return {
    fault: (_file: string) => {
      if (rand() >= faultRate) return "ok" as const;
      const kinds = ["drop", "cut", "stall", 500, 502, 503, "flip"] as const;
      const kind = kinds[Math.floor(rand() * kinds.length)];
      count(`GET ${kind}`);
      return kind;
    },
    headFault: (_file: string) => {
      if (rand() >= faultRate / 2) return "ok" as const;
      const kind = (["drop", 500, 503] as const)[Math.floor(rand() * 3)];
      count(`HEAD ${kind}`);
      return kind;
    },
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | "hung"> {
  let timer: NodeJS.Timeout;
  return Promise.race([work, new Promise<"hung">((ok) => (timer = setTimeout(() => ok("hung"), ms)))]).finally(() => clearTimeout(timer));
}

async function loadAndProbe(id: string, cacheDir: string, server: HubServer, golden: Map<string, string>): Promise<{ outcome: Outcome; detail?: string; message?: string }> {
  process.env.HF_ENDPOINT = server.endpoint;
  const attempt = (async () => {
    const model = await loadModel(id, { cacheDir, backend, timeoutMs: 400 });
    try {
      const snapshot = path.join(cacheDir, `models--${id.replace("/", "--")}`, "snapshots", server.commitOf(id));
      const badFile = sameFiles(snapshot, REPOS[id]);
      if (badFile) return { outcome: "wrongData" as const, detail: `${id}: cached ${badFile} differs from the hub's` };
      if ((await fingerprint(model)) !== golden.get(id)) return { outcome: "wrongData" as const, detail: `${id}: probe numbers differ from the local checkpoint's` };
      return { outcome: "succeeded" as const };
    } finally {
      model.dispose();
    }
  })();
  try {
    const result = await withTimeout(attempt, opTimeoutMs);
    if (result === "hung") {
      attempt.catch(() => undefined);
      return { outcome: "hung", detail: `${id}: no answer after ${opTimeoutMs} ms` };
    }
    return result;
  } catch (e) {
    if (e instanceof LmprobeError) return { outcome: "typedError", detail: e.name, message: e.message };
    return { outcome: "untypedError", detail: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

/** One download in a separate Node process (test/io/hub-download-child.ts), as a second notebook would. Its stall
 * timeout is 3 s, not 400 ms: a freshly started process on a loaded machine can take longer than that to read an answer. */
function childDownload(id: string, cacheDir: string, endpoint: string): Promise<{ outcome: Outcome; detail?: string; message?: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "test/io/hub-download-child.ts"), id, cacheDir, endpoint, "3000"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opTimeoutMs);
    child.on("exit", () => {
      clearTimeout(timer);
      let r: { dir?: string; error?: string; message?: string; typed?: boolean };
      try {
        r = JSON.parse(out.trim().split("\n").pop() ?? "");
      } catch {
        return done({ outcome: "hung", detail: `${id}: child printed no result ${err.slice(-300)}` });
      }
      if (r.error) return done(r.typed ? { outcome: "typedError", detail: r.error, message: r.message } : { outcome: "untypedError", detail: `${r.error}: ${r.message}` });
      const bad = sameFiles(r.dir!, REPOS[id]);
      done(bad ? { outcome: "wrongData", detail: `${id}: cached ${bad} differs from the hub's` } : { outcome: "succeeded" });
    });
  });
}

function record(tally: Tally, r: { outcome: Outcome; detail?: string; message?: string }): void {
  tally.ops++;
  tally[r.outcome]++;
  if (r.outcome === "typedError") tally.errorsByClass[r.detail!] = (tally.errorsByClass[r.detail!] ?? 0) + 1;
  const example = r.outcome === "typedError" ? r.message?.split("\n")[0] : r.detail;
  if (example && r.outcome !== "succeeded" && tally.examples.length < 10) tally.examples.push(example);
}

async function main(): Promise<void> {
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  const rand = seededRandom(seed);
  const plan = faultPlan(rand);
  const servers = [
    await startHubServer({ repos: REPOS, ranges: true, ...plan }),
    await startHubServer({ repos: REPOS, noSize: true, ...plan }),
  ];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-hub-soak-"));
  try {
    // The numbers a correct load must reproduce, from the local checkpoints.
    const golden = new Map<string, string>();
    for (const id of IDS) {
      const model = await loadModel(REPOS[id], { backend });
      golden.set(id, await fingerprint(model));
      model.dispose();
    }
    const baselineTensors = tf.memory().numTensors;

    const sequential = newTally();
    let cacheDir = "";
    const t0 = performance.now();
    for (let i = 0; i < sequentialCount && performance.now() < deadline; i++) {
      if (i % 4 !== 3) cacheDir = fs.mkdtempSync(path.join(work, "seq-"));
      record(sequential, await loadAndProbe(IDS[i % IDS.length], cacheDir, servers[Math.floor(i / 2) % 2], golden));
    }
    sequential.seconds = (performance.now() - t0) / 1000;

    const concurrent = newTally();
    const t1 = performance.now();
    if (performance.now() < deadline) {
      const shared = fs.mkdtempSync(path.join(work, "shared-"));
      // One server for the whole group (HF_ENDPOINT is process-wide).
      const results = await Promise.all(Array.from({ length: concurrentCount }, (_, i) => loadAndProbe(IDS[i % IDS.length], shared, servers[0], golden)));
      for (const r of results) record(concurrent, r);
    }
    concurrent.seconds = (performance.now() - t1) / 1000;

    // Separate processes filling one cache at once (downloads only: the files must be whole).
    const processes = newTally();
    const t2 = performance.now();
    for (let round = 0; round < processRounds && performance.now() < deadline; round++) {
      const shared = fs.mkdtempSync(path.join(work, "procs-"));
      const id = IDS[round % IDS.length];
      for (const r of await Promise.all(Array.from({ length: processCount }, () => childDownload(id, shared, servers[round % 2].endpoint)))) record(processes, r);
    }
    processes.seconds = (performance.now() - t2) / 1000;

    const result = {
      benchmark: "hub-soak",
      seed,
      backend,
      faultRate,
      models: IDS,
      sequential,
      concurrent,
      processes,
      faultsInjected: faults,
      requests: servers.reduce((n, s) => n + s.requests.length, 0),
      tensorsLeft: tf.memory().numTensors - baselineTensors,
      seconds: (performance.now() - started) / 1000,
      limit: "wrongData, untypedError and hung are 0 in every phase",
      withinLimit: [sequential, concurrent, processes].every((t) => t.wrongData === 0 && t.untypedError === 0 && t.hung === 0),
      complete: sequential.ops === sequentialCount && concurrent.ops === concurrentCount && processes.ops === processCount * processRounds,
    };
    const text = JSON.stringify(result, null, 2);
    console.log(text);
    const out = arg("--out", "");
    if (out) fs.writeFileSync(out, text + "\n");
    if (!result.withinLimit || !result.complete) process.exitCode = 1;
  } finally {
    for (const s of servers) await s.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.log(JSON.stringify({ benchmark: "hub-soak", error: (e as Error).message }));
  process.exitCode = 1;
});
