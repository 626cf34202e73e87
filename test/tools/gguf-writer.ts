// Writes GGUF v3 files for tests (the layout of ggml's docs/gguf.md: header, metadata key/values, tensor
// infos, then tensor data aligned to general.alignment). Values carry their GGUF type explicitly so a test can
// write exactly what llama.cpp's converter writes, or something deliberately wrong.
import fs from "node:fs";
import { ggmlType } from "../../src/io/gguf/ggml-types";

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

/** The bytes of a GGUF v3 file. */
export function ggufBytes(metadata: Array<[string, GgufValue]>, tensors: GgufTensorSpec[], options: GgufWriteOptions = {}): Buffer {
  const alignment = options.alignment ?? 32;
  const out = new Bytes();
  out.push(Buffer.from("GGUF", "ascii"));
  out.u32(3);
  out.u64(options.tensorCount ?? tensors.length);
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
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    offset += Math.ceil(t.data.length / alignment) * alignment;
  }
  tensors.forEach((t, i) => {
    out.str(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.typeId ?? ggmlType(t.type).id);
    out.u64(offsets[i]);
  });
  const pad = (Math.ceil(out.length / alignment) * alignment) - out.length;
  out.push(Buffer.alloc(pad));
  tensors.forEach((t) => {
    out.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.length));
    const tail = Math.ceil(t.data.length / alignment) * alignment - t.data.length;
    out.push(Buffer.alloc(tail));
  });
  return out.concat();
}

export function writeGguf(file: string, metadata: Array<[string, GgufValue]>, tensors: GgufTensorSpec[], options: GgufWriteOptions = {}): string {
  fs.writeFileSync(file, ggufBytes(metadata, tensors, options));
  return file;
}
