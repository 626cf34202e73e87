// Lazy reader of one safetensors file: the header is parsed and validated on open; each tensor is read
// on request with positioned reads at its own offset, in bounded chunks, so neither the file nor a
// 16-bit copy of a tensor is ever held whole in memory beside its float32 result.
import fs from "node:fs";
import path from "node:path";
import { ArgumentError, SafetensorsFormatError, UnsupportedDtypeError } from "../errors";
import { openRegularFile } from "./regular-file";
import { bfloat16ToFloat32, float16ToFloat32 } from "./half-float";
import { readSafetensorsHeader, type SafetensorsEntry, type SafetensorsHeader } from "./safetensors-header";

/** Bytes read per positioned read: bounds the scratch memory of 16-bit conversion. */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Bytes per read of an asynchronous slice (readSliceAsync); LMPROBE_READ_PART_BYTES overrides it (for an A/B). */
const READ_PART_BYTES = 16 * 1024 * 1024;

function readPartBytes(): number {
  const raw = process.env.LMPROBE_READ_PART_BYTES;
  if (raw === undefined || raw === "") return READ_PART_BYTES;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError("LMPROBE_READ_PART_BYTES", `is ${JSON.stringify(raw)}: expected a whole number of bytes ≥ 1`, "unset it for lmprobe's default (16 MiB)");
  return n;
}

/** Dtypes produced by quantisation schemes lmprobe does not decode yet (FP8, MXFP4/NVFP4 and similar). */
const QUANTISED_DTYPES = new Set(["F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"]);

export const INTEGER_DTYPES = new Set(["BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64"]);

/** The 'not supported yet' error for quantised tensors, shared by the reader and the checkpoint checks. */
export function quantisedTensorError(file: string, tensor: string, dtype: string, scheme?: string): UnsupportedDtypeError {
  return new UnsupportedDtypeError(
    file,
    tensor,
    scheme ? `${dtype} (${scheme} quantised)` : dtype,
    "quantised checkpoints are not supported yet; load the unquantised (BF16/F16/F32) release of the model",
  );
}

export class SafetensorsFile {
  private fd: number | null;

  private constructor(readonly file: string, fd: number, readonly header: SafetensorsHeader) {
    this.fd = fd;
  }

  /** Opens the file and validates its header. Throws MissingFileError or SafetensorsFormatError. */
  static open(file: string): SafetensorsFile {
    const absolute = path.resolve(file);
    const fd = openRegularFile(absolute, "safetensors file");
    try {
      const header = readSafetensorsHeader(absolute, fd, fs.fstatSync(fd).size);
      return new SafetensorsFile(absolute, fd, header);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in the file, sorted. */
  names(): string[] {
    return [...this.header.entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.header.entries.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const entry = this.header.entries.get(name);
    if (!entry) throw new SafetensorsFormatError(this.file, `tensor "${name}"`, "is not in this file");
    return entry;
  }

  get metadata(): Record<string, string> | null {
    return this.header.metadata;
  }

  /** Reads a floating-point tensor (F32, F16, BF16) as float32. */
  readFloat32(name: string): Float32Array {
    const entry = this.entry(name);
    const out = new Float32Array(entry.size);
    if (entry.dtype === "F32") {
      this.readInto(entry, new Uint8Array(out.buffer), entry.start, entry.end - entry.start);
    } else if (entry.dtype === "BF16" || entry.dtype === "F16") {
      const convert = entry.dtype === "BF16" ? bfloat16ToFloat32 : float16ToFloat32;
      const scratch = new Uint8Array(Math.min(CHUNK_BYTES, entry.end - entry.start));
      const scratch16 = new Uint16Array(scratch.buffer);
      for (let pos = entry.start, done = 0; pos < entry.end; ) {
        const n = Math.min(scratch.length, entry.end - pos);
        this.readInto(entry, scratch, pos, n);
        convert(scratch16, out, done, n / 2);
        pos += n;
        done += n / 2;
      }
    } else if (QUANTISED_DTYPES.has(entry.dtype)) {
      throw quantisedTensorError(this.file, name, entry.dtype);
    } else {
      throw new UnsupportedDtypeError(this.file, name, entry.dtype);
    }
    return out;
  }

  /** Reads an integer tensor (token ids and the like) as plain numbers; 64-bit values must fit 2^53. */
  readIntegers(name: string): number[] {
    const entry = this.entry(name);
    if (!INTEGER_DTYPES.has(entry.dtype)) {
      throw new UnsupportedDtypeError(this.file, name, entry.dtype, "readIntegers reads integer dtypes; use readFloat32 for float tensors");
    }
    const bytes = this.readBytes(name);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: number[] = new Array(entry.size);
    for (let i = 0; i < entry.size; i++) {
      switch (entry.dtype) {
        case "BOOL": case "U8": out[i] = view.getUint8(i); break;
        case "I8": out[i] = view.getInt8(i); break;
        case "I16": out[i] = view.getInt16(i * 2, true); break;
        case "U16": out[i] = view.getUint16(i * 2, true); break;
        case "I32": out[i] = view.getInt32(i * 4, true); break;
        case "U32": out[i] = view.getUint32(i * 4, true); break;
        default: {
          const big = entry.dtype === "I64" ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
          if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
            throw new SafetensorsFormatError(this.file, `tensor "${name}"[${i}]`, `holds ${big}, beyond the exact range of a JavaScript number`);
          }
          out[i] = Number(big);
        }
      }
    }
    return out;
  }

  /** The tensor's bytes exactly as stored (little-endian). */
  readBytes(name: string): Uint8Array {
    const entry = this.entry(name);
    const out = new Uint8Array(entry.end - entry.start);
    this.readInto(entry, out, entry.start, out.length);
    return out;
  }

  /**
   * Bytes [offset, offset + target.length) of tensor `name`'s data into `target` (a slice of a tensor streamed to
   * the device without holding it whole).
   */
  readSlice(name: string, offset: number, target: Uint8Array): void {
    const entry = this.sliceEntry(name, offset, target.length);
    this.readInto(entry, target, entry.start + offset, target.length);
  }

  /**
   * readSlice on the I/O thread pool, so that the next slice is read while the previous one is uploaded; in parts
   * of readPartBytes() read at once (libuv's pool has four threads), so that the disk sees several requests in flight
   * and a slice in the page cache is copied by several cores.
   */
  async readSliceAsync(name: string, offset: number, target: Uint8Array): Promise<void> {
    const entry = this.sliceEntry(name, offset, target.length);
    const position = entry.start + offset;
    const part = readPartBytes();
    const parts: Promise<void>[] = [];
    for (let start = 0; start < target.length; start += part) {
      parts.push(this.readRange(name, target.subarray(start, Math.min(start + part, target.length)), position + start));
    }
    // Every part settled before an error is thrown: none still writing into the caller's buffer.
    const failed = (await Promise.allSettled(parts)).find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private async readRange(name: string, target: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < target.length; ) {
      if (this.fd === null) throw new SafetensorsFormatError(this.file, `tensor "${name}"`, "was read after the file was closed", "open the checkpoint again");
      const { bytesRead } = await new Promise<{ bytesRead: number }>((resolve, reject) =>
        // At most 1 GiB a call: fs.read takes lengths below 2 GiB.
        fs.read(this.fd!, target, done, Math.min(1 << 30, target.length - done), position + done, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead }))),
      );
      if (bytesRead === 0) {
        throw new SafetensorsFormatError(this.file, `tensor "${name}"`, `data ends at file offset ${position + done}, before its end ${position + target.length} (the file was truncated)`);
      }
      done += bytesRead;
    }
  }

  private sliceEntry(name: string, offset: number, length: number): SafetensorsEntry {
    const entry = this.entry(name);
    if (!(Number.isInteger(offset) && offset >= 0 && offset + length <= entry.end - entry.start)) {
      throw new SafetensorsFormatError(this.file, `tensor "${name}"`, `has ${entry.end - entry.start} bytes; bytes [${offset}, ${offset + length}) were asked for`);
    }
    return entry;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private readInto(entry: SafetensorsEntry, target: Uint8Array, position: number, length: number): void {
    if (this.fd === null) throw new SafetensorsFormatError(this.file, `tensor "${entry.name}"`, "was read after the file was closed", "open the checkpoint again");
    // Positioned reads in bounded pieces: one read is limited to 2 GiB, and a short read means the
    // file shrank after its header was validated.
    for (let done = 0; done < length; ) {
      const n = Math.min(CHUNK_BYTES, length - done);
      const got = fs.readSync(this.fd, target, done, n, position + done);
      if (got === 0) {
        throw new SafetensorsFormatError(this.file, `tensor "${entry.name}"`, `data ends at file offset ${position + done}, before its end ${position + length} (the file was truncated)`);
      }
      done += got;
    }
  }
}
