// Reads a checkpoint's tensors for a converter: checks each shape against what config.json implies, rejects
// (through the WeightSource) non-finite values, transposes nn.Linear weights into the canonical [in, out] orientation, and records which
// tensors were used so that a parameter the conversion would silently drop is reported instead.
import * as tf from "@tensorflow/tfjs-core";
import { WeightShapeError } from "../../errors";
import type { WeightSource } from "../../io/weight-source";
import type { NormWeights } from "../canonical";

export class WeightLoader {
  private readonly used = new Set<string>();

  constructor(
    readonly weights: WeightSource,
    readonly architecture: string,
  ) {}

  has(name: string): boolean {
    return this.weights.has(name);
  }

  /** The tensor `name` with exactly `shape`. */
  tensor(name: string, shape: number[]): tf.Tensor {
    if (!this.weights.has(name)) {
      throw new WeightShapeError(this.weights.origin, name, "is missing from the checkpoint", `a ${this.architecture} checkpoint needs it; check that config.json belongs to these weights`);
    }
    const info = this.weights.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new WeightShapeError(info.file, name, `has shape [${info.shape}] but config.json implies [${shape}]`);
    }
    const data = this.weights.read(name); // the WeightSource rejects NaN and Infinity as it reads
    this.used.add(name);
    return tf.tensor(data, shape, "float32");
  }

  optional(name: string, shape: number[]): tf.Tensor | null {
    return this.weights.has(name) ? this.tensor(name, shape) : null;
  }

  /** Marks a tensor as deliberately unused (e.g. an lm_head that duplicates tied embeddings). */
  skip(name: string): void {
    if (this.weights.has(name)) this.used.add(name);
  }

  /** An nn.Linear weight stored [out, in], returned as [in, out]. */
  linear(name: string, inDim: number, outDim: number): tf.Tensor2D {
    const w = this.tensor(name, [outDim, inDim]);
    const t = w.transpose() as tf.Tensor2D;
    w.dispose();
    return t;
  }

  /** A GPT-2 Conv1D weight, already stored [in, out]. */
  conv1d(name: string, inDim: number, outDim: number): tf.Tensor2D {
    return this.tensor(name, [inDim, outDim]) as tf.Tensor2D;
  }

  bias(name: string, dim: number, required: boolean): tf.Tensor1D | null {
    return (required ? this.tensor(name, [dim]) : this.optional(name, [dim])) as tf.Tensor1D | null;
  }

  rmsNorm(name: string, dim: number, eps: number, weightOffset = 0): NormWeights {
    return { kind: "rms", weight: this.tensor(name, [dim]) as tf.Tensor1D, bias: null, eps, weightOffset };
  }

  layerNorm(prefix: string, dim: number, eps: number): NormWeights {
    return {
      kind: "layer",
      weight: this.tensor(`${prefix}.weight`, [dim]) as tf.Tensor1D,
      bias: this.tensor(`${prefix}.bias`, [dim]) as tf.Tensor1D,
      eps,
      weightOffset: 0,
    };
  }

  /**
   * Throws for any checkpoint tensor the conversion did not read (except buffers matching `ignorable`), since
   * dropping a parameter would give numbers that differ from the reference without saying so.
   */
  assertAllUsed(ignorable: RegExp[] = []): void {
    for (const name of this.weights.names()) {
      if (this.used.has(name) || ignorable.some((re) => re.test(name))) continue;
      throw new WeightShapeError(
        this.weights.info(name).file,
        name,
        `is in the checkpoint but lmprobe's ${this.architecture} conversion does not use it`,
        "the checkpoint has parameters this architecture's implementation lacks (a variant lmprobe does not support yet); check config.json's model_type",
      );
    }
  }
}
