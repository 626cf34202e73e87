// Reads a GGUF file's header (ggml's docs/gguf.md, versions 2 and 3): metadata key/values and tensor infos,
// then gives each tensor's bytes on demand. Written here rather than with @huggingface/gguf (0.4.6) because
// that parser reads past the end of a truncated file as zeros (a cut header parses into a tensor named ""
// with no dimensions) and throws untyped errors; lmprobe must name the field at fault and never build a
// model from a damaged file. Every read is bounds-checked, every tensor range checked against the file size.
import fs from "node:fs";
import { GgufFormatError } from "../../errors";
import { ggmlByteSize, ggmlTypeById, type GgmlType } from "./ggml-types";

export type GgufScalar = number | bigint | boolean | string;
export type GgufMetaValue = GgufScalar | GgufScalar[];

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is contiguous. */
  dims: number[];
  type: GgmlType;
  elements: number;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

/** Limits that keep a corrupt count from allocating without bound. */
const MAX_STRING_BYTES = 1 << 26;
const MAX_ARRAY_ITEMS = 1 << 26;
const MAX_COUNT = 1 << 24;

class HeaderReader {
  private buf = Buffer.alloc(0);
  private start = 0; // file offset of buf[0]
  pos = 0; // file offset of the next byte

  constructor(
    readonly file: string,
    private readonly fd: number,
    readonly size: number,
  ) {}

  private need(bytes: number, field: string): void {
    if (this.pos + bytes > this.size) {
      throw new GgufFormatError(this.file, field, `needs ${bytes} byte(s) at offset ${this.pos} but the file ends at ${this.size} (truncated)`);
    }
    if (this.pos + bytes <= this.start + this.buf.length) return;
    const length = Math.min(this.size - this.pos, Math.max(bytes, 1 << 20));
    this.buf = Buffer.alloc(length);
    fs.readSync(this.fd, this.buf, 0, length, this.pos);
    this.start = this.pos;
  }

  /** Index in `buf` of the next `bytes` bytes (refilling `buf` first: read it only after calling this). */
  private at(bytes: number, field: string): number {
    this.need(bytes, field);
    const i = this.pos - this.start;
    this.pos += bytes;
    return i;
  }

  u8(f: string): number { const i = this.at(1, f); return this.buf.readUInt8(i); }
  i8(f: string): number { const i = this.at(1, f); return this.buf.readInt8(i); }
  u16(f: string): number { const i = this.at(2, f); return this.buf.readUInt16LE(i); }
  i16(f: string): number { const i = this.at(2, f); return this.buf.readInt16LE(i); }
  u32(f: string): number { const i = this.at(4, f); return this.buf.readUInt32LE(i); }
  i32(f: string): number { const i = this.at(4, f); return this.buf.readInt32LE(i); }
  f32(f: string): number { const i = this.at(4, f); return this.buf.readFloatLE(i); }
  f64(f: string): number { const i = this.at(8, f); return this.buf.readDoubleLE(i); }
  i64(f: string): bigint { const i = this.at(8, f); return this.buf.readBigInt64LE(i); }
  u64(f: string): bigint { const i = this.at(8, f); return this.buf.readBigUInt64LE(i); }

  /** A u64 that must fit a safe integer no larger than `max`. */
  count(f: string, max: number): number {
    const v = this.u64(f);
    if (v > BigInt(max)) throw new GgufFormatError(this.file, f, `is ${v}, more than the ${max} a valid file can hold (corrupt header)`);
    return Number(v);
  }

  string(f: string): string {
    const length = this.count(`${f} (string length)`, MAX_STRING_BYTES);
    const i = this.at(length, f);
    return this.buf.toString("utf8", i, i + length);
  }
}

const VALUE_TYPES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];

function readScalar(r: HeaderReader, type: number, f: string): GgufScalar {
  switch (type) {
    case 0: return r.u8(f);
    case 1: return r.i8(f);
    case 2: return r.u16(f);
    case 3: return r.i16(f);
    case 4: return r.u32(f);
    case 5: return r.i32(f);
    case 6: return r.f32(f);
    case 7: {
      const b = r.u8(f);
      if (b > 1) throw new GgufFormatError(r.file, f, `is a bool stored as ${b} (must be 0 or 1)`);
      return b === 1;
    }
    case 8: return r.string(f);
    case 10: { const v = r.u64(f); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case 11: { const v = r.i64(f); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v; }
    case 12: return r.f64(f);
  }
  throw new GgufFormatError(r.file, f, `has value type ${type}, which is not a GGUF type (0-12)`);
}

function readValue(r: HeaderReader, f: string): GgufMetaValue {
  const type = r.u32(`${f} (value type)`);
  if (type !== 9) return readScalar(r, type, f);
  const itemType = r.u32(`${f} (array item type)`);
  if (itemType === 9) throw new GgufFormatError(r.file, f, "is an array of arrays, which no GGUF model key uses");
  if (VALUE_TYPES[itemType] === undefined) throw new GgufFormatError(r.file, f, `has array item type ${itemType}, which is not a GGUF type (0-12)`);
  const length = r.count(`${f} (array length)`, MAX_ARRAY_ITEMS);
  const out: GgufScalar[] = new Array(length);
  for (let i = 0; i < length; i++) out[i] = readScalar(r, itemType, `${f}[${i}]`);
  return out;
}

export class GgufFile {
  private constructor(
    readonly file: string,
    private fd: number | null,
    readonly version: number,
    readonly metadata: Map<string, GgufMetaValue>,
    readonly tensors: Map<string, GgufTensor>,
    /** Absolute offset of the tensor data section. */
    readonly dataOffset: number,
  ) {}

  static open(file: string): GgufFile {
    const fd = fs.openSync(file, "r");
    try {
      return GgufFile.parse(file, fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private static parse(file: string, fd: number): GgufFile {
    const size = fs.fstatSync(fd).size;
    const r = new HeaderReader(file, fd, size);
    const magic = r.u32("magic (bytes 0-3)");
    if (magic !== 0x46554747) {
      throw new GgufFormatError(file, "magic (bytes 0-3)", `is 0x${magic.toString(16).padStart(8, "0")}, not "GGUF"`, "give a .gguf file (llama.cpp's format)");
    }
    const version = r.u32("version (bytes 4-7)");
    if (version !== 2 && version !== 3) {
      throw new GgufFormatError(file, "version (bytes 4-7)", `is ${version}; lmprobe reads GGUF versions 2 and 3`, "re-convert the model with a current llama.cpp");
    }
    const tensorCount = r.count("tensor_count", MAX_COUNT);
    const kvCount = r.count("metadata_kv_count", MAX_COUNT);
    const metadata = new Map<string, GgufMetaValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = r.string(`metadata[${i}].key`);
      metadata.set(key, readValue(r, `metadata["${key}"]`));
    }
    const alignment = metadata.get("general.alignment") ?? 32;
    if (typeof alignment !== "number" || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
      throw new GgufFormatError(file, 'metadata["general.alignment"]', `is ${String(alignment)}, not a power of two`);
    }
    const infos: Array<{ name: string; dims: number[]; type: GgmlType; relative: bigint; typeId: number }> = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = r.string(`tensor_infos[${i}].name`);
      const f = `tensor_infos[${i}] ("${name}")`;
      const nDims = r.u32(`${f}.n_dimensions`);
      if (nDims < 1 || nDims > 4) throw new GgufFormatError(file, `${f}.n_dimensions`, `is ${nDims}; ggml tensors have 1 to 4`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const dim = r.count(`${f}.dimensions[${d}]`, Number.MAX_SAFE_INTEGER);
        if (dim < 1) throw new GgufFormatError(file, `${f}.dimensions[${d}]`, "is 0");
        dims.push(dim);
      }
      const typeId = r.u32(`${f}.type`);
      const type = ggmlTypeById(typeId);
      if (!type) {
        throw new GgufFormatError(file, `${f}.type`, `is ${typeId}, which is not a ggml type lmprobe knows`, "the file was written by a newer llama.cpp, or is damaged");
      }
      infos.push({ name, dims, type, relative: r.u64(`${f}.offset`), typeId });
    }
    const dataOffset = Math.ceil(r.pos / alignment) * alignment;
    const tensors = new Map<string, GgufTensor>();
    for (const [i, info] of infos.entries()) {
      const f = `tensor_infos[${i}] ("${info.name}")`;
      if (tensors.has(info.name)) throw new GgufFormatError(file, `${f}.name`, "appears twice");
      const elements = info.dims.reduce((a, b) => a * b, 1);
      const byteLength = ggmlByteSize(info.type, elements);
      if (byteLength === null || info.dims[0] % info.type.blockSize !== 0) {
        throw new GgufFormatError(file, `${f}.dimensions`, `[${info.dims}] is not a whole number of ${info.type.name} blocks (${info.type.blockSize} values) per row`);
      }
      if (info.relative % BigInt(alignment) !== 0n) throw new GgufFormatError(file, `${f}.offset`, `${info.relative} is not a multiple of the alignment ${alignment}`);
      const offset = dataOffset + Number(info.relative);
      if (info.relative > BigInt(size) || offset + byteLength > size) {
        throw new GgufFormatError(file, `${f}.offset`, `puts the tensor's ${byteLength} bytes at ${offset}..${offset + byteLength}, past the end of the file (${size} bytes): truncated, or tensor_count/offsets are wrong`);
      }
      tensors.set(info.name, { name: info.name, dims: info.dims, type: info.type, elements, offset, byteLength });
    }
    checkNoOverlap(file, [...tensors.values()]);
    return new GgufFile(file, fd, version, metadata, tensors, dataOffset);
  }

  /** The raw bytes of one tensor. */
  bytes(tensor: GgufTensor): Uint8Array {
    if (this.fd === null) throw new GgufFormatError(this.file, tensor.name, "read after the file was closed");
    const out = new Uint8Array(tensor.byteLength);
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(this.fd, out, done, out.length - done, tensor.offset + done);
      if (n === 0) throw new GgufFormatError(this.file, `tensor "${tensor.name}"`, `the file ended while reading (got ${done} of ${out.length} bytes); it shrank after opening`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Tensors whose data ranges overlap mean a wrong tensor count or offset: the weights would alias. */
function checkNoOverlap(file: string, tensors: GgufTensor[]): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.byteLength) {
      throw new GgufFormatError(file, `tensor_infos ("${sorted[i].name}").offset`, `overlaps the data of "${prev.name}"`);
    }
  }
}
