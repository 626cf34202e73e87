// verify(model, reference.safetensors): compares every tensor the reference file holds with the engine's
// counterpart, and its greedy continuation, so that a user can see how faithful the numbers are.
import { SafetensorsFormatError } from "../errors";
import { SafetensorsFile } from "../io/safetensors";
import type { LanguageModel } from "../model/model";
import { compareArrays, unravelIndex, type TensorComparison, type Tolerance } from "./compare";
import { COMPARED_TENSORS, engineTensors, type ComparedTensor } from "./engine-tensors";
import { verifyBundle } from "./format";
import { checkGeneration, type GenerationCheck } from "./generation";
import { describeNonFinite, type NonFiniteReport } from "../model/non-finite";

/** Options of verify(): tolerances, and whether to compare the generation. */
export interface VerifyOptions extends Partial<Tolerance> {
  /** Also compare generated_ids (default true when the file has them). */
  generation?: boolean;
}

/** One tensor's comparison in verify(), with the index of its worst element. */
export interface VerifyTensorResult extends TensorComparison {
  /** Index of the worst element in the tensor, e.g. [layer, pos, vocab]. */
  worstAt: number[] | null;
}

/** What verify() returns: pass or fail, each tensor's comparison, the generation check; show() renders it. */
export interface VerifyResult {
  ok: boolean;
  model: string;
  modelType: string;
  reference: string;
  atol: number;
  rtol: number;
  tensors: Partial<Record<ComparedTensor, VerifyTensorResult>>;
  generated: GenerationCheck | null;
  /** Where the engine's forward pass first produced NaN/±Infinity on the reference's input, or null. */
  nonFinite: NonFiniteReport | null;
  /**
   * The notebook display bundle (HTML table and text table): `show(await verify(model, ref))`. Not enumerable, so
   * the result still compares and serialises as plain data.
   */
  toMimeBundle(): { "text/html": string; "text/plain": string };
}

/**
 * Compares the engine with a reference file made by transformers: every tensor it holds, and its greedy
 * continuation with and without the key/value cache.
 */
export async function verify(model: LanguageModel, referenceFile: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const tol: Tolerance = { atol: opts.atol ?? 1e-4, rtol: opts.rtol ?? 1e-4 };
  const ref = SafetensorsFile.open(referenceFile);
  try {
    if (!ref.has("input_ids")) {
      throw new SafetensorsFormatError(ref.file, 'tensor "input_ids"', "is missing", "a reference file holds input_ids [T] and the tensors to compare (see lmprobe's fixture format)");
    }
    const ids = ref.readIntegers("input_ids");
    const wanted = COMPARED_TENSORS.filter((n) => ref.has(n));
    const ours = await engineTensors(model, ids, wanted);
    const tensors: VerifyResult["tensors"] = {};
    for (const name of wanted) {
      const refShape = ref.entry(name).shape;
      const engine = ours.get(name);
      if (!engine) {
        tensors[name] = { ok: false, maxAbsDiff: Infinity, worstRatio: Infinity, worstIndex: -1, shape: refShape, worstAt: null, problem: "the engine computes no such tensor for this model" };
        continue;
      }
      if (engine.shape.join(",") !== refShape.join(",")) {
        tensors[name] = { ok: false, maxAbsDiff: Infinity, worstRatio: Infinity, worstIndex: -1, shape: refShape, worstAt: null, problem: `shape [${engine.shape}] vs reference [${refShape}]` };
        continue;
      }
      const c = compareArrays(engine.data, ref.readFloat32(name), refShape, tol);
      tensors[name] = { ...c, worstAt: c.worstIndex >= 0 ? unravelIndex(c.worstIndex, refShape) : null };
    }
    let generated: GenerationCheck | null = null;
    if (opts.generation !== false && ref.has("generated_ids")) {
      const expected = ref.readIntegers("generated_ids");
      const logits = ref.has("logits") ? ref.readFloat32("logits") : null;
      const vocab = model.weights.vocabSize;
      const lastRow = logits && logits.length === ids.length * vocab ? logits.subarray((ids.length - 1) * vocab) : null;
      generated = await checkGeneration(model, ids, expected, lastRow);
    }
    // Only when a compared tensor of ours holds a non-finite value is the forward pass observed point by point.
    const anyNonFinite = [...ours.values()].some((t) => t.data.some((v) => !Number.isFinite(v)));
    const site = anyNonFinite ? await model.findNonFinite([ids]) : null;
    const nonFinite = site ? { site, message: describeNonFinite(site) } : null;
    const ok = Object.values(tensors).every((t) => t!.ok) && (generated?.ok ?? true) && nonFinite === null;
    return showable({ ok, model: model.name, modelType: model.config.modelType, reference: ref.file, ...tol, tensors, generated, nonFinite });
  } finally {
    ref.close();
  }
}

function showable(r: Omit<VerifyResult, "toMimeBundle">): VerifyResult {
  const result = r as VerifyResult;
  Object.defineProperty(result, "toMimeBundle", { value: () => verifyBundle(result), enumerable: false });
  return result;
}
