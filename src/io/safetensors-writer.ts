// Writes safetensors files (one file, or shards with a model.safetensors.index.json as Hugging Face
// does). Tensors may hand over their data lazily, so a multi-GB checkpoint is written one tensor at a
// time. Used to save activation caches and to build test and benchmark checkpoints.
import fs from "node:fs";
import path from "node:path";
import { ArgumentError } from "../errors";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "./half-float";

export type WritableDtype = "F32" | "F16" | "BF16" | "I64" | "I32" | "U8";

const BYTES: Record<WritableDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

type NumericData = Float32Array | Float64Array | Int32Array | BigInt64Array | ArrayLike<number>;

export interface TensorToWrite {
  dtype: WritableDtype;
  shape: number[];
  /** Values (converted to dtype), or a function producing them when the tensor is written. */
  data?: NumericData | (() => NumericData);
  /** Already-encoded little-endian bytes of dtype, or a function producing them (instead of data). */
  bytes?: Uint8Array | (() => Uint8Array);
}

function elementCount(name: string, t: TensorToWrite): number {
  if (!(t.dtype in BYTES)) throw new ArgumentError(`tensors["${name}"].dtype`, `is "${t.dtype}"`, "write F32, F16, BF16, I64, I32 or U8");
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ArgumentError(`tensors["${name}"].shape`, `is ${JSON.stringify(t.shape)}`, "give non-negative integer dimensions");
  }
  return t.shape.reduce((a, b) => a * b, 1);
}

/** Encodes a tensor's values as little-endian bytes of its dtype. */
function encode(name: string, t: TensorToWrite, count: number): Uint8Array {
  if (t.bytes !== undefined) {
    const bytes = typeof t.bytes === "function" ? t.bytes() : t.bytes;
    if (bytes.length !== count * BYTES[t.dtype]) {
      throw new ArgumentError(`tensors["${name}"].bytes`, `holds ${bytes.length} bytes, not ${count * BYTES[t.dtype]}`, "match shape × dtype size");
    }
    return bytes;
  }
  if (t.data === undefined) throw new ArgumentError(`tensors["${name}"]`, "has neither data nor bytes");
  const data = typeof t.data === "function" ? t.data() : t.data;
  if (data.length !== count) {
    throw new ArgumentError(`tensors["${name}"].data`, `holds ${data.length} values but shape [${t.shape.join(", ")}] needs ${count}`);
  }
  const out = new Uint8Array(count * BYTES[t.dtype]);
  const view = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    const v = data[i] as number | bigint;
    switch (t.dtype) {
      case "F32": view.setFloat32(i * 4, Number(v), true); break;
      case "F16": view.setUint16(i * 2, float32ToFloat16Bits(Number(v)), true); break;
      case "BF16": view.setUint16(i * 2, float32ToBfloat16Bits(Number(v)), true); break;
      case "I32": view.setInt32(i * 4, Number(v), true); break;
      case "I64": view.setBigInt64(i * 8, typeof v === "bigint" ? v : BigInt(Math.trunc(v)), true); break;
      case "U8": view.setUint8(i, Number(v)); break;
    }
  }
  return out;
}

/**
 * Writes one safetensors file. The header is padded with spaces to a multiple of 8 bytes, as the
 * reference writer does, so that data offsets stay aligned.
 */
export function writeSafetensors(file: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const counts = new Map<string, number>();
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new ArgumentError("tensors", 'holds a tensor named "__metadata__"', "rename it");
    const count = elementCount(name, tensors[name]);
    counts.set(name, count);
    const size = count * BYTES[tensors[name].dtype];
    header[name] = { dtype: tensors[name].dtype, shape: tensors[name].shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const length = Buffer.byteLength(json);
  json += " ".repeat((8 - (length % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(headerBytes.length));

  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const partial = `${file}.partial`;
  const fd = fs.openSync(partial, "w");
  try {
    fs.writeSync(fd, lengthBytes);
    fs.writeSync(fd, headerBytes);
    for (const name of names) {
      const bytes = encode(name, tensors[name], counts.get(name)!);
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 26));
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(partial, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(partial, file);
}

/**
 * Writes tensors as Hugging Face shards `model-0000i-of-0000n.safetensors` in `dir`, each at most
 * `maxShardBytes` (a larger tensor gets a shard of its own), plus `model.safetensors.index.json`.
 * Returns the shard file names.
 */
export function writeShardedSafetensors(
  dir: string,
  tensors: Record<string, TensorToWrite>,
  options: { maxShardBytes: number; metadata?: Record<string, string> },
): string[] {
  const groups: string[][] = [[]];
  let shardBytes = 0;
  let totalBytes = 0;
  for (const name of Object.keys(tensors)) {
    const size = elementCount(name, tensors[name]) * BYTES[tensors[name].dtype];
    if (groups[groups.length - 1].length > 0 && shardBytes + size > options.maxShardBytes) {
      groups.push([]);
      shardBytes = 0;
    }
    groups[groups.length - 1].push(name);
    shardBytes += size;
    totalBytes += size;
  }
  const width = 5;
  const files = groups.map((_, i) => `model-${String(i + 1).padStart(width, "0")}-of-${String(groups.length).padStart(width, "0")}.safetensors`);
  const weightMap: Record<string, string> = {};
  groups.forEach((names, i) => {
    const subset: Record<string, TensorToWrite> = {};
    for (const name of names) {
      subset[name] = tensors[name];
      weightMap[name] = files[i];
    }
    writeSafetensors(path.join(dir, files[i]), subset, options.metadata ?? { format: "pt" });
  });
  const index = { metadata: { total_size: totalBytes }, weight_map: weightMap };
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify(index, null, 2) + "\n");
  return files;
}
