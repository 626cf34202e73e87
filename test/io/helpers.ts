// Test helpers of io/: temporary directories, fixture paths, and an independent decoder of raw
// safetensors bytes (written from the format's definition, sharing no code with src/io) to check the
// reader's values against.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { seededRandom } from "../../src/model/sampling";

export const ROOT = path.resolve(__dirname, "../..");
export const TINY = path.join(ROOT, "test/fixtures/tiny");
export const DEMO = path.join(ROOT, "models/lmprobe-demo");
export const DEMO_REFERENCE = path.join(ROOT, "test/fixtures/demo-capital");

export function tinyFixtures(): string[] {
  return fs.readdirSync(TINY).sort().map((name) => path.join(TINY, name));
}

export function tempDir(prefix = "lmprobe-io-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Copies a checkpoint directory's files (not its reference outputs) into a fresh temp dir. */
export function copyCheckpoint(src: string, except: (name: string) => boolean = () => false): string {
  const dir = tempDir();
  for (const name of fs.readdirSync(src)) {
    if (name.startsWith("reference") || name.startsWith("batch_reference") || except(name)) continue;
    fs.copyFileSync(path.join(src, name), path.join(dir, name));
  }
  return dir;
}

export interface RawEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The header of a safetensors file and the absolute offset of its data section. */
export function rawHeader(file: string): { entries: Record<string, RawEntry>; dataStart: number } {
  const fd = fs.openSync(file, "r");
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const json = Buffer.alloc(n);
    fs.readSync(fd, json, 0, n, 8);
    const parsed = JSON.parse(json.toString("utf8"));
    delete parsed.__metadata__;
    return { entries: parsed, dataStart: 8 + n };
  } finally {
    fs.closeSync(fd);
  }
}

/** Decodes element `index` of a tensor from the file's bytes, by the IEEE definitions. */
export function decodeElement(file: string, entry: RawEntry, dataStart: number, index: number): number {
  const width = entry.dtype === "F32" ? 4 : 2;
  const buf = Buffer.alloc(width);
  const fd = fs.openSync(file, "r");
  fs.readSync(fd, buf, 0, width, dataStart + entry.data_offsets[0] + index * width);
  fs.closeSync(fd);
  if (entry.dtype === "F32") return buf.readFloatLE(0);
  const bits = buf.readUInt16LE(0);
  if (entry.dtype === "BF16") {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(bits * 65536);
    return b.readFloatBE(0);
  }
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * Math.pow(2, -24);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * Math.pow(2, exponent - 15);
}

/** A small deterministic generator (mulberry32) for seeded tests. */
export const seeded = seededRandom;
