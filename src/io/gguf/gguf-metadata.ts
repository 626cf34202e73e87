// Typed access to GGUF metadata: every missing or mistyped key is a GgufFormatError naming the key.
import { GgufFormatError } from "../../errors";
import type { GgufFile, GgufMetaValue } from "./gguf-file";

export class GgufMetadata {
  constructor(
    readonly file: string,
    private readonly values: Map<string, GgufMetaValue>,
  ) {}

  static of(gguf: GgufFile): GgufMetadata {
    return new GgufMetadata(gguf.file, gguf.metadata);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  private fail(key: string, problem: string, fix?: string): never {
    throw new GgufFormatError(this.file, `metadata["${key}"]`, problem, fix);
  }

  private required(key: string, fix?: string): GgufMetaValue {
    const v = this.values.get(key);
    if (v === undefined) this.fail(key, "is missing", fix ?? "the file lacks a key llama.cpp's converter writes; re-convert the model");
    return v;
  }

  string(key: string): string {
    const v = this.required(key);
    if (typeof v !== "string") this.fail(key, `is ${describe(v)}, not a string`);
    return v;
  }

  optionalString(key: string): string | null {
    return this.values.has(key) ? this.string(key) : null;
  }

  number(key: string): number {
    const v = this.required(key);
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, `is ${describe(v)}, not a number`);
    return v;
  }

  optionalNumber(key: string): number | null {
    return this.values.has(key) ? this.number(key) : null;
  }

  positiveInt(key: string): number {
    const v = this.number(key);
    if (!Number.isInteger(v) || v <= 0) this.fail(key, `is ${v}, not a positive integer`);
    return v;
  }

  optionalPositiveInt(key: string): number | null {
    return this.values.has(key) ? this.positiveInt(key) : null;
  }

  /** A per-layer count may be stored once or as one entry per layer (llama.cpp allows both); all must agree here. */
  uniformPositiveInt(key: string): number | null {
    const v = this.values.get(key);
    if (v === undefined) return null;
    if (!Array.isArray(v)) return this.positiveInt(key);
    const first = v[0];
    if (typeof first !== "number" || v.some((x) => x !== first)) this.fail(key, "differs between layers, which lmprobe's engine does not support");
    return first;
  }

  optionalBool(key: string): boolean | null {
    const v = this.values.get(key);
    if (v === undefined) return null;
    if (typeof v !== "boolean") this.fail(key, `is ${describe(v)}, not a bool`);
    return v;
  }

  stringArray(key: string, fix?: string): string[] {
    const v = this.required(key, fix);
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) this.fail(key, `is ${describe(v)}, not an array of strings`);
    return v as string[];
  }

  optionalNumberArray(key: string, length: number): number[] | null {
    const v = this.values.get(key);
    if (v === undefined) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "number")) this.fail(key, `is ${describe(v)}, not an array of numbers`);
    if (v.length !== length) this.fail(key, `has ${v.length} entries but tokenizer.ggml.tokens has ${length}`);
    return v as number[];
  }

  optionalTokenId(key: string, vocabSize: number): number | null {
    const v = this.optionalNumber(key);
    if (v === null) return null;
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) this.fail(key, `is ${v}, not a token id (0..${vocabSize - 1})`);
    return v;
  }
}

function describe(v: GgufMetaValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `${typeof v} ${JSON.stringify(typeof v === "bigint" ? String(v) : v)}`;
}
