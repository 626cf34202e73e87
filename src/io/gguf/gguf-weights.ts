// The WeightSource of a GGUF file: tensors under their Hugging Face names, dequantised to float32 on read
// (dequantize.ts) and with the converter's value changes undone (gguf-model.ts), so the architecture
// converters read a GGUF exactly as they read safetensors.
import { NonFiniteWeightError, UnsupportedDtypeError, WeightShapeError } from "../../errors";
import type { TensorInfo, WeightSource } from "../weight-source";
import { canDequantize, dequantize, READABLE_GGML_TYPES } from "./dequantize";
import type { GgufFile, GgufTensor } from "./gguf-file";
import { unpermuteRope, type GgufModel } from "./gguf-model";

export class GgufWeights implements WeightSource {
  readonly origin: string;

  constructor(
    private readonly gguf: GgufFile,
    private readonly model: GgufModel,
  ) {
    this.origin = gguf.file;
  }

  names(): string[] {
    return [...this.model.names.keys()].sort();
  }

  has(name: string): boolean {
    return this.model.names.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensor(name);
    return {
      name,
      dtype: "F32",
      // ggml lists the contiguous dimension first; Hugging Face shapes list it last.
      shape: [...t.dims].reverse(),
      file: this.gguf.file,
      quantisation: { type: t.type.name, bytes: t.byteLength },
    };
  }

  /** The GGUF tensor behind a Hugging Face name. */
  ggufTensor(name: string): GgufTensor {
    return this.tensor(name);
  }

  read(name: string): Float32Array {
    const t = this.tensor(name);
    if (!canDequantize(t.type)) {
      throw new UnsupportedDtypeError(this.gguf.file, `${this.model.names.get(name)} (${name})`, t.type.name, `lmprobe dequantises ${READABLE_GGML_TYPES.join(", ")}; pick a GGUF of one of those types`);
    }
    let data = dequantize(t.type, this.gguf.bytes(t), t.elements);
    const transform = this.model.transforms.get(name) ?? { kind: "none" };
    if (transform.kind === "unpermute-rope") {
      const rows = t.dims.length === 2 ? t.dims[1] : t.dims[0];
      data = unpermuteRope(data, transform.heads, rows, t.dims.length === 2 ? t.dims[0] : 1);
    } else if (transform.kind === "minus-one") {
      for (let i = 0; i < data.length; i++) data[i] -= 1;
    }
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new NonFiniteWeightError(this.gguf.file, name, i);
    }
    return data;
  }

  close(): void {
    this.gguf.close();
  }

  private tensor(name: string): GgufTensor {
    const ggufName = this.model.names.get(name);
    const t = ggufName === undefined ? undefined : this.gguf.tensors.get(ggufName);
    if (!t) throw new WeightShapeError(this.gguf.file, name, "is missing from the GGUF file", "check that the file is complete");
    return t;
  }
}
