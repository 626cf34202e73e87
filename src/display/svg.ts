// Static SVG of a Vega-Lite spec, rendered in Node by Vega's headless View. The SVG is what a reader sees
// wherever no JavaScript runs (GitHub, nbviewer, exported HTML with scripts off), so every chart carries one.
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";
import { pathToFileURL } from "node:url";
import { DisplayError } from "../errors";
import { SVG_WORKER_SOURCE } from "./svg-worker";

let worker: Worker | undefined;

function startWorker(): Worker {
  const w = new Worker(SVG_WORKER_SOURCE, {
    eval: true,
    execArgv: [],
    workerData: {
      vega: pathToFileURL(require.resolve("vega")).href,
      vegaLite: pathToFileURL(require.resolve("vega-lite")).href,
    },
  });
  // Never keep a script alive just because a chart was drawn once.
  w.unref();
  w.on("error", () => {
    worker = undefined;
  });
  w.on("exit", () => {
    worker = undefined;
  });
  return w;
}

/**
 * Renders a Vega-Lite (or Vega) spec to an SVG string, synchronously. The first call starts a worker thread
 * and loads Vega there (about a second); later calls take milliseconds.
 */
export function renderSvg(spec: object, timeoutMs = 60_000): string {
  return callWorker({ spec }, timeoutMs) as string;
}

const schemes = new Map<string, Array<[number, number, number]>>();

/** The colours of a continuous Vega scheme ("blues", "redblue", …) at `count` evenly spaced points, as RGB. */
export function schemeColours(scheme: string, count = 256): Array<[number, number, number]> {
  const key = `${scheme}/${count}`;
  let colours = schemes.get(key);
  if (!colours) {
    colours = callWorker({ scheme, count }, 60_000) as Array<[number, number, number]>;
    schemes.set(key, colours);
  }
  return colours;
}

function callWorker(request: object, timeoutMs: number): unknown {
  worker ??= startWorker();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  try {
    worker.postMessage({ ...request, flag, reply: port2 }, [port2]);
    const outcome = Atomics.wait(flag, 0, 0, timeoutMs);
    const message = receiveMessageOnPort(port1)?.message as { svg?: unknown; error?: string } | undefined;
    if (outcome === "timed-out" || !message) {
      throw new DisplayError("static SVG", `Vega did not render the chart within ${timeoutMs} ms`, "check the spec with vega-lite's compile(); report the chart as a bug");
    }
    if (message.error !== undefined) {
      throw new DisplayError("static SVG", `Vega could not render the chart: ${message.error}`, "check the spec's fields against the table's columns");
    }
    return message.svg!;
  } finally {
    port1.close();
  }
}

/** Stops the rendering worker (tests and scripts that want a clean exit; it is unref'd anyway). */
export async function stopSvgRenderer(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}
