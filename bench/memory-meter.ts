// Bytes of backend buffers allocated and still alive, and their high-water mark, during a call: counted at the
// backend's own data store (cpu: backend.data, wasm: backend.dataIdMap), one entry per buffer. tf.memory() and
// tf.profile() count bytes per tensor, so every clone or reshape sharing a buffer counts again (the gradient
// tape saves each op's inputs as such clones: weights would appear several times over); this does not.
// Uses the backends' private fields (tfjs 4.22, pinned in package.json).
import * as tf from "@tensorflow/tfjs-core";

interface Store {
  set(id: object, value: { values?: ArrayBufferView | null; shape?: number[]; dtype?: string }): void;
  delete(id: object): boolean;
}

export async function peakBufferBytes(fn: () => Promise<void>): Promise<number> {
  const backend = tf.backend() as unknown as { data?: Store; dataIdMap?: Store };
  const store = backend.dataIdMap ?? backend.data;
  if (!store) throw new Error(`no data store found on backend ${tf.getBackend()}`);
  const sizes = new Map<object, number>();
  let live = 0;
  let peak = 0;
  const set = store.set;
  const del = store.delete;
  store.set = function (id, value) {
    const bytes = value.values ? value.values.byteLength : (value.shape ?? []).reduce((a, b) => a * b, 1) * (value.dtype === "bool" ? 1 : 4);
    live += bytes - (sizes.get(id) ?? 0);
    sizes.set(id, bytes);
    peak = Math.max(peak, live);
    return set.call(this, id, value);
  };
  store.delete = function (id) {
    if (sizes.has(id)) {
      live -= sizes.get(id)!;
      sizes.delete(id);
    }
    return del.call(this, id);
  };
  try {
    await fn();
  } finally {
    store.set = set;
    store.delete = del;
  }
  return peak;
}
