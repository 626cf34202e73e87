// The WeightSource of a checkpoint directory: model.safetensors, or the shards listed by
// model.safetensors.index.json. All headers are read and validated up front (they are small), so a
// missing shard or a tensor the index promises but no shard holds is reported before any weight is read.
import fs from "node:fs";
import path from "node:path";
import { MissingFileError, NonFiniteWeightError, NotRegularFileError, SafetensorsFormatError, WeightShapeError } from "../errors";
import { readRegularFile } from "./regular-file";
import { SafetensorsFile } from "./safetensors";
import type { HalfRanges, TensorInfo, WeightSource } from "./weight-source";

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

/** A shard name from an index must be a plain file in the checkpoint directory. */
const PLAIN_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Index of the first NaN or ±Infinity (all exponent bits set), or -1; integer tests keep the scan fast. */
function firstNonFinite(data: Float32Array): number {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7f800000) === 0x7f800000) return i;
  }
  return -1;
}

/**
 * Index of the first 16-bit NaN or ±Infinity (all exponent bits, `mask`, set), or -1. Tests two values per 32-bit
 * word: with each half masked to its exponent, adding the exponent's lowest bit carries into the half's top bit
 * only when every exponent bit is set (the masked half is at most `mask`, so no carry crosses into the next half).
 */
export function firstNonFiniteHalf(bits: Uint16Array, mask: number): number {
  let i = 0;
  if (bits.byteOffset % 4 === 0) {
    const words = new Int32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
    const mask2 = (mask | (mask << 16)) | 0;
    const lowest = mask & -mask;
    const add2 = (lowest | (lowest << 16)) | 0;
    const top2 = 0x80008000 | 0;
    let w = 0;
    for (; w < words.length; w++) {
      if ((((words[w] & mask2) + add2) & top2) !== 0) break;
    }
    i = w * 2;
  }
  for (; i < bits.length; i++) {
    if ((bits[i] & mask) === mask) return i;
  }
  return -1;
}

export class SafetensorsWeights implements WeightSource {
  constructor(
    readonly origin: string,
    private readonly files: SafetensorsFile[],
    /** tensor name → file that holds it */
    private readonly location: Map<string, SafetensorsFile>,
  ) {}

  names(): string[] {
    return [...this.location.keys()].sort();
  }

  has(name: string): boolean {
    return this.location.has(name);
  }

  info(name: string): TensorInfo {
    const file = this.fileOf(name);
    const entry = file.entry(name);
    return { name, dtype: entry.dtype as TensorInfo["dtype"], shape: [...entry.shape], file: file.file };
  }

  /** Reads one tensor as float32 and checks it holds no NaN or infinity. */
  read(name: string): Float32Array {
    const file = this.fileOf(name);
    const data = file.readFloat32(name);
    const index = firstNonFinite(data);
    if (index >= 0) throw new NonFiniteWeightError(file.file, name, index);
    return data;
  }

  /** A BF16/F16 tensor's 16-bit patterns as stored (see WeightSource.readHalves); null for other dtypes. */
  readHalves(name: string, unchecked = false): { format: "bf16" | "f16"; bits: Uint16Array } | null {
    const file = this.fileOf(name);
    const dtype = file.entry(name).dtype;
    if (dtype !== "BF16" && dtype !== "F16") return null;
    const bytes = file.readBytes(name); // a new buffer of its own: byte offset 0, so 4-byte aligned
    const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
    const index = unchecked ? -1 : firstNonFiniteHalf(bits, dtype === "BF16" ? 0x7f80 : 0x7c00);
    if (index >= 0) throw new NonFiniteWeightError(file.file, name, index);
    return { format: dtype === "BF16" ? "bf16" : "f16", bits };
  }

  /** A BF16/F16 tensor read a range at a time (see WeightSource.halfRanges); null for other dtypes. */
  halfRanges(name: string): HalfRanges | null {
    const file = this.fileOf(name);
    const entry = file.entry(name);
    if (entry.dtype !== "BF16" && entry.dtype !== "F16") return null;
    const mask = entry.dtype === "BF16" ? 0x7f80 : 0x7c00;
    const check = (first: number, target: Uint16Array) => {
      const index = firstNonFiniteHalf(target, mask);
      if (index >= 0) throw new NonFiniteWeightError(file.file, name, first + index);
    };
    const bytes = (target: Uint16Array) => new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    return {
      format: entry.dtype === "BF16" ? "bf16" : "f16",
      size: entry.size,
      read: async (first, target) => {
        await file.readSliceAsync(name, first * 2, bytes(target));
        check(first, target);
      },
      readSync: (first, target) => {
        file.readSlice(name, first * 2, bytes(target));
        check(first, target);
      },
    };
  }

  /** One tensor's bytes exactly as stored (for quantised formats decoded elsewhere, e.g. MXFP4's U8 blocks). */
  readBytes(name: string): Uint8Array {
    return this.fileOf(name).readBytes(name);
  }

  close(): void {
    for (const f of this.files) f.close();
  }

  private fileOf(name: string): SafetensorsFile {
    const file = this.location.get(name);
    if (!file) {
      throw new WeightShapeError(this.origin, name, "is missing from the checkpoint", "check that the weights belong to this config.json (model_type, layer count)");
    }
    return file;
  }
}

/** Opens the weights of a Hugging Face checkpoint directory (single file or sharded). */
export function openWeightSource(dir: string): SafetensorsWeights {
  const indexPath = path.join(dir, INDEX_FILE);
  if (fs.existsSync(indexPath)) return openSharded(dir, indexPath);
  const single = path.join(dir, SINGLE_FILE);
  if (fs.existsSync(single)) {
    const file = SafetensorsFile.open(single);
    return new SafetensorsWeights(single, [file], new Map(file.names().map((n) => [n, file])));
  }
  const others = fs.readdirSync(dir);
  const gguf = others.find((f) => f.endsWith(".gguf"));
  const hint = gguf
    ? `this directory holds a GGUF file: load it by its path (${path.join(dir, gguf)})`
    : others.some((f) => f === "pytorch_model.bin" || f === "pytorch_model.bin.index.json")
      ? "only PyTorch .bin weights are present; re-save them as safetensors (model.save_pretrained(dir, safe_serialization=True))"
      : `put ${SINGLE_FILE} (or ${INDEX_FILE} and its shards) in the directory`;
  throw new MissingFileError(single, "model weights (model.safetensors or model.safetensors.index.json)", hint);
}

function openSharded(dir: string, indexPath: string): SafetensorsWeights {
  let index: unknown;
  try {
    index = JSON.parse(readRegularFile(indexPath, INDEX_FILE));
  } catch (e) {
    if (e instanceof NotRegularFileError) throw e;
    throw new SafetensorsFormatError(indexPath, "(root)", `is not JSON (${(e as Error).message})`, "re-download the index file");
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== "object" || Array.isArray(weightMap)) {
    throw new SafetensorsFormatError(indexPath, "weight_map", "is missing or not an object of tensor name → shard file", "re-download the index file");
  }
  const byShard = new Map<string, SafetensorsFile>();
  const location = new Map<string, SafetensorsFile>();
  try {
    for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof shard !== "string" || !PLAIN_FILE_NAME.test(shard)) {
        throw new SafetensorsFormatError(indexPath, `weight_map["${name}"]`, `is ${JSON.stringify(shard)}, not a shard file name in this directory`);
      }
      let file = byShard.get(shard);
      if (!file) {
        const shardPath = path.join(dir, shard);
        if (!fs.existsSync(shardPath)) {
          throw new MissingFileError(shardPath, `shard listed in ${INDEX_FILE} for tensor "${name}"`, "download the missing shard (the checkpoint is incomplete)");
        }
        file = SafetensorsFile.open(shardPath);
        byShard.set(shard, file);
      }
      if (!file.has(name)) {
        throw new SafetensorsFormatError(indexPath, `weight_map["${name}"]`, `names ${shard}, which does not hold that tensor`, "re-download the index and its shards");
      }
      location.set(name, file);
    }
  } catch (e) {
    for (const f of byShard.values()) f.close();
    throw e;
  }
  return new SafetensorsWeights(indexPath, [...byShard.values()], location);
}
