// Source of the worker thread behind renderSvg(). Vega's headless rendering is asynchronous and Vega ships as
// ES modules with top-level await, while show() must be synchronous (a notebook cell does not wait for a promise
// it drops). The main thread posts a request and blocks on a shared Int32Array; this worker renders the SVG with
// Vega's public API, posts the answer on the reply port and wakes the main thread with Atomics.notify.
//
// It is plain JavaScript run with `eval: true` and no inherited exec arguments: a worker that had to be loaded
// through a TypeScript loader hook deadlocks while the main thread sits in Atomics.wait.
export const SVG_WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require("node:worker_threads");
const libraries = Promise.all([import(workerData.vega), import(workerData.vegaLite)]);

async function render(spec) {
  const [vega, vegaLite] = await libraries;
  const isVega = typeof spec.$schema === "string" && spec.$schema.includes("/schema/vega/");
  const vegaSpec = isVega ? spec : vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(vegaSpec), { renderer: "none", logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// Colours of a Vega scheme sampled at count evenly spaced points from 0 to 1, as [r, g, b] (raster heatmaps use
// the very ramp Vega draws the legend with).
async function schemeColours(name, count) {
  const [vega] = await libraries;
  const scheme = vega.scheme(name);
  if (typeof scheme !== "function") throw new Error("unknown continuous colour scheme " + JSON.stringify(name));
  const out = [];
  for (let i = 0; i < count; i++) {
    // d3-interpolate answers "rgb(r, g, b)".
    const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(String(scheme(count === 1 ? 0.5 : i / (count - 1))));
    if (!m) throw new Error("scheme " + name + " gave a colour that is not rgb()");
    out.push([Number(m[1]), Number(m[2]), Number(m[3])]);
  }
  return out;
}

parentPort.on("message", (request) => {
  (request.scheme !== undefined ? schemeColours(request.scheme, request.count) : render(request.spec))
    .then(
      (svg) => request.reply.postMessage({ svg }),
      (err) => request.reply.postMessage({ error: err && err.message ? err.message : String(err) }),
    )
    .finally(() => {
      Atomics.store(request.flag, 0, 1);
      Atomics.notify(request.flag, 0);
    });
});
`;
