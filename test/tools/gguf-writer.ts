// Writes GGUF v3 files for tests (the layout of ggml's docs/gguf.md: header, metadata key/values, tensor
// infos, then tensor data aligned to general.alignment). Values carry their GGUF type explicitly so a test can
// write exactly what llama.cpp's converter writes, or something deliberately wrong.
import fs from "node:fs";
import { ggmlByteSize, ggmlType } from "../../src/io/gguf/ggml-types";

export type GgufValue =
  | { type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "u64" | "i64" | "f64"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: "string"; value: string[] }
  | { type: "array"; itemType: "i32" | "f32" | "u32"; value: number[] };

export interface GgufTensorSpec {
  name: string;
  /** ggml type name (F32, Q4_0, ...). */
  type: string;
  /** Dimensions in ggml order: ne[0] is the contiguous one (a [out, in] matrix is written [in, out]). */
  dims: number[];
  data: Uint8Array;
  /** Overrides the type id written (to write an unknown type). */
  typeId?: number;
}

const TYPE_IDS = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

class Bytes {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
  u64(v: number | bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
  scalar(type: string, v: number | boolean | string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case "u8": b.writeUInt8(v as number); return this.push(b.subarray(0, 1));
      case "i8": b.writeInt8(v as number); return this.push(b.subarray(0, 1));
      case "bool": b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case "u16": b.writeUInt16LE(v as number); return this.push(b.subarray(0, 2));
      case "i16": b.writeInt16LE(v as number); return this.push(b.subarray(0, 2));
      case "u32": b.writeUInt32LE(v as number); return this.push(b.subarray(0, 4));
      case "i32": b.writeInt32LE(v as number); return this.push(b.subarray(0, 4));
      case "f32": b.writeFloatLE(v as number); return this.push(b.subarray(0, 4));
      case "u64": b.writeBigUInt64LE(BigInt(v as number)); return this.push(b);
      case "i64": b.writeBigInt64LE(BigInt(v as number)); return this.push(b);
      case "f64": b.writeDoubleLE(v as number); return this.push(b);
      case "string": return this.str(v as string);
    }
    throw new Error(`scalar type ${type}`);
  }
  concat(): Buffer { return Buffer.concat(this.chunks); }
}

export interface GgufWriteOptions {
  alignment?: number;
  /** Tensor count written in the header (default: the real count). */
  tensorCount?: number;
}

/** A tensor's header entry: what the tensor-info record needs, without its data. */
interface TensorEntry {
  name: string;
  dims: number[];
  typeId: number;
  byteLength: number;
}

/** Header, metadata and tensor infos, padded to the alignment: the bytes before the first tensor's data. */
function headerBytes(metadata: Array<[string, GgufValue]>, tensors: TensorEntry[], alignment: number, tensorCount: number): Buffer {
  const out = new Bytes();
  out.push(Buffer.from("GGUF", "ascii"));
  out.u32(3);
  out.u64(tensorCount);
  out.u64(metadata.length);
  for (const [key, v] of metadata) {
    out.str(key);
    out.u32(TYPE_IDS[v.type]);
    if (v.type === "array") {
      out.u32(TYPE_IDS[v.itemType]);
      out.u64(v.value.length);
      for (const item of v.value) out.scalar(v.itemType, item);
    } else {
      out.scalar(v.type, v.value);
    }
  }
  let offset = 0;
  for (const t of tensors) {
    out.str(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.typeId);
    out.u64(offset);
    offset += Math.ceil(t.byteLength / alignment) * alignment;
  }
  const pad = (Math.ceil(out.length / alignment) * alignment) - out.length;
  out.push(Buffer.alloc(pad));
  return out.concat();
}

/** The tensor's data followed by the zeros that align the next one. */
function paddedData(data: Uint8Array, alignment: number): Buffer[] {
  const tail = Math.ceil(data.length / alignment) * alignment - data.length;
  return [Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(tail)];
}

/** The bytes of a GGUF v3 file. */
export function ggufBytes(metadata: Array<[string, GgufValue]>, tensors: GgufTensorSpec[], options: GgufWriteOptions = {}): Buffer {
  const alignment = options.alignment ?? 32;
  const entries = tensors.map((t) => ({ name: t.name, dims: t.dims, typeId: t.typeId ?? ggmlType(t.type).id, byteLength: t.data.length }));
  const header = headerBytes(metadata, entries, alignment, options.tensorCount ?? tensors.length);
  return Buffer.concat([header, ...tensors.flatMap((t) => paddedData(t.data, alignment))]);
}

/** A tensor whose data is made only when the writer reaches it. */
export interface GgufLazyTensorSpec {
  name: string;
  /** ggml type name; the data `make` returns must be exactly the type's size for `dims`. */
  type: string;
  /** ggml order, as in GgufTensorSpec. */
  dims: number[];
  make: () => Uint8Array;
}

/**
 * Writes a GGUF file one tensor at a time: the header is computed from the types and shapes alone, then each
 * tensor is made, appended and dropped, so a file of several GB is written without holding its weights (for
 * benchmarks of models whose float32 form would not fit).
 */
export function writeGgufLazily(file: string, metadata: Array<[string, GgufValue]>, tensors: GgufLazyTensorSpec[], options: { alignment?: number } = {}): string {
  const alignment = options.alignment ?? 32;
  const entries = tensors.map((t) => {
    const type = ggmlType(t.type);
    const byteLength = ggmlByteSize(type, t.dims.reduce((a, b) => a * b, 1));
    if (byteLength === null) throw new Error(`${t.name}: ${t.dims.join("×")} is not whole ${t.type} blocks`);
    return { name: t.name, dims: t.dims, typeId: type.id, byteLength };
  });
  const fd = fs.openSync(file, "w");
  try {
    const header = headerBytes(metadata, entries, alignment, tensors.length);
    for (let done = 0; done < header.length; ) done += fs.writeSync(fd, header, done, header.length - done);
    tensors.forEach((t, i) => {
      const data = t.make();
      if (data.length !== entries[i].byteLength) throw new Error(`${t.name}: made ${data.length} bytes, its header says ${entries[i].byteLength}`);
      for (const chunk of paddedData(data, alignment)) {
        for (let done = 0; done < chunk.length; ) done += fs.writeSync(fd, chunk, done, chunk.length - done);
      }
    });
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

export function writeGguf(file: string, metadata: Array<[string, GgufValue]>, tensors: GgufTensorSpec[], options: GgufWriteOptions = {}): string {
  fs.writeFileSync(file, ggufBytes(metadata, tensors, options));
  return file;
}
