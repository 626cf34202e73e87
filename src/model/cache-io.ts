// An ActivationCache saved as safetensors (one tensor per hook name, float32, int32 for expert indices) and
// loaded back as an ActivationCache, so a run can be analysed later or elsewhere (Python reads the same file).
import * as tf from "@tensorflow/tfjs-core";
import { ArgumentError, SafetensorsFormatError } from "../errors";
import { SafetensorsFile } from "../io/safetensors";
import { writeSafetensors, type TensorToWrite } from "../io/safetensors-writer";
import { ActivationCache } from "./cache";

const FORMAT = "lmprobe-activation-cache";

/** Writes every cached activation to `file`. The metadata records the number of blocks for loading. */
export async function saveCache(cache: ActivationCache, file: string): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of cache.names()) {
    const t = cache.get(name);
    const data = await t.data();
    tensors[name] = { dtype: t.dtype === "int32" ? "I32" : "F32", shape: t.shape, data: data as Float32Array | Int32Array };
  }
  // The hook order (forward order) is kept in the metadata: safetensors headers list names sorted.
  writeSafetensors(file, tensors, { format: FORMAT, n_layers: String(cache.nLayers), order: JSON.stringify(cache.names()) });
}

/** Reads a cache written by saveCache (or any safetensors file of hook-named tensors, given nLayers). */
export function loadCache(file: string, nLayers?: number): ActivationCache {
  const st = SafetensorsFile.open(file);
  try {
    const stored = st.metadata?.n_layers;
    const layers = nLayers ?? (stored !== undefined ? Number(stored) : undefined);
    if (layers === undefined || !Number.isInteger(layers) || layers < 0) {
      throw new ArgumentError("nLayers", `is not recorded in ${file}`, "pass the model's number of layers: loadCache(file, model.config.numLayers)");
    }
    const tensors = new Map<string, tf.Tensor>();
    try {
      const order: string[] = st.metadata?.order ? JSON.parse(st.metadata.order) : [];
      const names = [...order.filter((n) => st.has(n)), ...st.names().filter((n) => !order.includes(n))];
      for (const name of names) {
        const entry = st.entry(name);
        if (entry.dtype === "I32" || entry.dtype === "I64") {
          tensors.set(name, tf.tensor(Int32Array.from(st.readIntegers(name)), entry.shape, "int32"));
        } else {
          tensors.set(name, tf.tensor(st.readFloat32(name), entry.shape, "float32"));
        }
      }
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
    if (tensors.size === 0) throw new SafetensorsFormatError(file, "tensors", "holds no activations", "save a cache that has cached hooks");
    return new ActivationCache(tensors, layers);
  } finally {
    st.close();
  }
}
