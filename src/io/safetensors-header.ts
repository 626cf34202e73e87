// Parses and validates a safetensors header: an 8-byte little-endian length, then that many bytes of
// JSON mapping tensor names to {dtype, shape, data_offsets}, offsets relative to the end of the header.
// Every check names the field or offset at fault, so a corrupt or truncated download is recognised as
// such instead of surfacing later as garbage weights.
import fs from "node:fs";
import { SafetensorsFormatError, UnsupportedDtypeError } from "../errors";
import { ownEntry } from "../own-key";

/** The safetensors library refuses headers over 100 MB; so do we, before allocating anything. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bits per element of every dtype the safetensors format defines. */
export const DTYPE_BITS: Readonly<Record<string, number>> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32,
  F64: 64, I64: 64, U64: 64, C64: 64,
  F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Number of elements (product of shape). */
  size: number;
  /** Absolute byte range in the file. */
  start: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  headerLength: number;
  /** Absolute offset of the first data byte (8 + header length). */
  dataStart: number;
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string> | null;
}

const LENGTH_FIELD = "header length (bytes 0-7)";

/** Reads and validates the header of an open safetensors file without touching its data section. */
export function readSafetensorsHeader(file: string, fd: number, fileSize: number): SafetensorsHeader {
  if (fileSize < 8) {
    throw new SafetensorsFormatError(file, LENGTH_FIELD, `the file is only ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  }
  const lengthBytes = Buffer.alloc(8);
  fs.readSync(fd, lengthBytes, 0, 8, 0);
  const declared = lengthBytes.readBigUInt64LE(0);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsFormatError(file, LENGTH_FIELD, `declares a ${declared}-byte header, over the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file, or corrupt)`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > fileSize) {
    throw new SafetensorsFormatError(file, LENGTH_FIELD, `declares a ${headerLength}-byte header but only ${fileSize - 8} bytes follow (truncated file)`);
  }
  const headerBytes = Buffer.alloc(headerLength);
  fs.readSync(fd, headerBytes, 0, headerLength, 8);
  return parseHeaderJson(file, headerBytes, fileSize);
}

function parseHeaderJson(file: string, bytes: Uint8Array, fileSize: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SafetensorsFormatError(file, "header (bytes 8+)", "is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsFormatError(file, "header (bytes 8+)", `is not JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new SafetensorsFormatError(file, "header (bytes 8+)", `is ${Array.isArray(json) ? "an array" : String(json === null ? "null" : typeof json)}, not a JSON object`);
  }
  const dataStart = 8 + bytes.length;
  const dataLength = fileSize - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> | null = null;
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(file, value);
      continue;
    }
    entries.set(name, checkEntry(file, name, value, dataStart, dataLength));
  }
  checkOverlaps(file, [...entries.values()], dataStart);
  return { file, fileSize, headerLength: bytes.length, dataStart, entries, metadata };
}

function checkMetadata(file: string, value: unknown): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SafetensorsFormatError(file, "__metadata__", "is not an object of strings");
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new SafetensorsFormatError(file, `__metadata__.${key}`, `is ${typeof v}, not a string`);
  }
  return value as Record<string, string>;
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function checkEntry(file: string, name: string, value: unknown, dataStart: number, dataLength: number): SafetensorsEntry {
  const at = `tensor "${name}"`;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new SafetensorsFormatError(file, at, "is not an object with dtype, shape and data_offsets");
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== "string") throw new SafetensorsFormatError(file, `${at}.dtype`, dtype === undefined ? "is missing" : `is ${JSON.stringify(dtype)}, not a string`);
  const bits = ownEntry(DTYPE_BITS, dtype);
  if (bits === undefined) {
    throw new UnsupportedDtypeError(file, name, dtype, `"${dtype}" is not a safetensors dtype (known: ${Object.keys(DTYPE_BITS).join(", ")}); the file is corrupt or from an incompatible writer`);
  }
  if (!Array.isArray(shape)) throw new SafetensorsFormatError(file, `${at}.shape`, shape === undefined ? "is missing" : `is ${JSON.stringify(shape)}, not an array`);
  shape.forEach((d, i) => {
    if (!isCount(d)) throw new SafetensorsFormatError(file, `${at}.shape[${i}]`, `is ${JSON.stringify(d)}, not a non-negative integer`);
  });
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsFormatError(file, `${at}.data_offsets`, offsets === undefined ? "is missing" : `is ${JSON.stringify(offsets)}, not [begin, end]`);
  }
  const [begin, end] = offsets;
  if (!isCount(begin)) throw new SafetensorsFormatError(file, `${at}.data_offsets[0]`, `is ${JSON.stringify(begin)}, not a non-negative integer`);
  if (!isCount(end)) throw new SafetensorsFormatError(file, `${at}.data_offsets[1]`, `is ${JSON.stringify(end)}, not a non-negative integer`);
  if (end < begin) throw new SafetensorsFormatError(file, `${at}.data_offsets`, `[${begin}, ${end}] is reversed (end before begin)`);
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  const expectedBits = size * bits;
  if (!Number.isSafeInteger(expectedBits) || expectedBits !== (end - begin) * 8) {
    throw new SafetensorsFormatError(file, `${at}.data_offsets`, `[${begin}, ${end}] spans ${end - begin} bytes but shape [${shape.join(", ")}] of ${dtype} needs ${expectedBits / 8} bytes`);
  }
  if (end > dataLength) {
    throw new SafetensorsFormatError(file, `${at}.data_offsets`, `end ${end} runs past the data section (${dataLength} bytes, ending at file offset ${dataStart + dataLength}): the file is truncated`);
  }
  return { name, dtype, shape: shape as number[], size, start: dataStart + begin, end: dataStart + end };
}

function checkOverlaps(file: string, entries: SafetensorsEntry[], dataStart: number): void {
  const sorted = entries.filter((e) => e.end > e.start).sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.start < prev.end) {
      throw new SafetensorsFormatError(file, `tensor "${cur.name}".data_offsets`,
        `[${cur.start - dataStart}, ${cur.end - dataStart}] overlaps tensor "${prev.name}" [${prev.start - dataStart}, ${prev.end - dataStart}]`);
    }
  }
}
