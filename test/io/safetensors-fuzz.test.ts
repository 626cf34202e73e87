// Corrupt-input test: several hundred damaged safetensors files and shard indexes, generated from a seed
// and grouped by kind of damage. Each must raise its specific error class naming the field or offset at
// fault; none may crash, hang or hand back a partly opened checkpoint.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import {
  LmprobeError, MissingFileError, NonFiniteWeightError, SafetensorsFormatError, UnsupportedDtypeError,
} from "../../src/errors";
import { MAX_HEADER_BYTES } from "../../src/io/safetensors-header";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { seeded, tempDir } from "./helpers";

const LENGTH = "header length (bytes 0-7)";
const HEADER = "header (bytes 8+)";

type Header = Record<string, any>;

/** A valid little checkpoint: tensors of F32 and BF16 laid end to end. */
function baseHeader(rand: () => number): { header: Header; dataLength: number } {
  const header: Header = { __metadata__: { format: "pt" } };
  let offset = 0;
  const count = 2 + Math.floor(rand() * 4);
  for (let i = 0; i < count; i++) {
    const dtype = rand() < 0.5 ? "F32" : "BF16";
    const shape = [1 + Math.floor(rand() * 4), 1 + Math.floor(rand() * 5)];
    const bytes = shape[0] * shape[1] * (dtype === "F32" ? 4 : 2);
    header[`layer.${i}.weight`] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return { header, dataLength: offset };
}

function tensorNames(header: Header): string[] {
  return Object.keys(header).filter((k) => k !== "__metadata__");
}

/** Writes [u64 length][header][data] to a fresh directory as model.safetensors. */
function writeFile(dir: string, header: Header | string | Buffer, dataLength: number, options: { length?: bigint; cut?: number } = {}): string {
  const json = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(options.length ?? BigInt(json.length));
  const data = Buffer.alloc(dataLength);
  for (let i = 0; i < dataLength; i++) data[i] = (i * 37) & 0x3f; // finite values in both F32 and BF16
  let bytes = Buffer.concat([len, json, data]);
  if (options.cut !== undefined) bytes = bytes.subarray(0, options.cut);
  const file = path.join(dir, "model.safetensors");
  fs.writeFileSync(file, bytes);
  return file;
}

interface Case {
  name: string;
  dir: string;
  errorClass: new (...args: any[]) => LmprobeError;
  /** The field the error must name (err.field), or a check of the error's own properties. */
  field?: string;
  check?: (err: any) => void;
  /** Text the message must hold (an offset, a byte count). */
  mentions?: string[];
  /** The damage shows when a tensor is read, not when the file is opened. */
  onRead?: boolean;
}

function expectFailure(c: Case): void {
  let weights: ReturnType<typeof openWeightSource> | undefined;
  let caught: unknown;
  try {
    weights = openWeightSource(c.dir);
    if (c.onRead) for (const n of weights.names()) weights.read(n);
  } catch (e) {
    caught = e;
  } finally {
    weights?.close();
  }
  assert.ok(caught, `${c.name}: no error`);
  assert.ok(caught instanceof c.errorClass, `${c.name}: got ${(caught as Error).name}: ${(caught as Error).message}`);
  const err = caught as any;
  if (c.field !== undefined) {
    assert.equal(err.field, c.field, `${c.name}: ${err.message}`);
    assert.ok(err.message.includes(c.field), `${c.name}: message does not name ${c.field}`);
  }
  c.check?.(err);
  for (const text of c.mentions ?? []) assert.ok(err.message.includes(text), `${c.name}: message lacks "${text}": ${err.message}`);
  if (!c.onRead) assert.equal(weights, undefined, `${c.name}: a partly opened checkpoint was returned`);
}

const PER_KIND = 25;
const kinds: Record<string, (rand: () => number, i: number) => Case> = {
  "truncated length field": (rand, i) => {
    const dir = tempDir();
    const size = i % 8;
    fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.alloc(size, Math.floor(rand() * 256)));
    return { name: `${size}-byte file`, dir, errorClass: SafetensorsFormatError, field: LENGTH, mentions: [`only ${size} bytes`] };
  },
  "oversized header length": (rand) => {
    const dir = tempDir();
    const declared = BigInt(MAX_HEADER_BYTES) + 1n + BigInt(Math.floor(rand() * 2 ** 52)) * BigInt(1 + Math.floor(rand() * 4096));
    writeFile(dir, baseHeader(rand).header, 16, { length: declared });
    return { name: `length ${declared}`, dir, errorClass: SafetensorsFormatError, field: LENGTH, mentions: [String(declared)] };
  },
  "header length past end of file": (rand) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const json = JSON.stringify(header);
    const declared = json.length + dataLength + 1 + Math.floor(rand() * 10000);
    writeFile(dir, json, dataLength, { length: BigInt(declared) });
    return { name: `length ${declared}`, dir, errorClass: SafetensorsFormatError, field: LENGTH, mentions: [String(declared), "truncated"] };
  },
  "header not JSON": (rand, i) => {
    const dir = tempDir();
    const json = JSON.stringify(baseHeader(rand).header);
    let bad: Buffer;
    if (i % 3 === 0) bad = Buffer.from(json.slice(0, 1 + Math.floor(rand() * (json.length - 2)))); // cut short
    else if (i % 3 === 1) bad = Buffer.from(Array.from({ length: 20 + Math.floor(rand() * 50) }, () => 0x80 + Math.floor(rand() * 0x40))); // not UTF-8
    else bad = Buffer.from(json.replace(/"/g, () => (rand() < 0.3 ? "'" : '"')).replace(/^\{/, "{,"));
    writeFile(dir, bad, 0);
    return { name: `garbage ${i % 3}`, dir, errorClass: SafetensorsFormatError, field: HEADER };
  },
  "header not an object": (_rand, i) => {
    const dir = tempDir();
    const values = ["[]", "[1,2]", "42", '"text"', "null", "true", "[{}]", "-1", "1e9", '["a"]'];
    writeFile(dir, values[i % values.length], 0);
    return { name: values[i % values.length], dir, errorClass: SafetensorsFormatError, field: HEADER, mentions: ["not a JSON object"] };
  },
  "bad dtype": (rand, i) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const name = tensorNames(header)[Math.floor(rand() * tensorNames(header).length)];
    const unknown = ["F33", "float32", "", "bf16", "INT8", "Q4_0", "F128", "B16"];
    const notString = [1, null, true, ["F32"], { t: "F32" }];
    if (i % 3 === 2) {
      const value = notString[i % notString.length];
      header[name].dtype = value;
      writeFile(dir, header, dataLength);
      return { name: `dtype ${JSON.stringify(value)}`, dir, errorClass: SafetensorsFormatError, field: `tensor "${name}".dtype` };
    }
    if (i % 5 === 0) {
      delete header[name].dtype;
      writeFile(dir, header, dataLength);
      return { name: "dtype missing", dir, errorClass: SafetensorsFormatError, field: `tensor "${name}".dtype`, mentions: ["missing"] };
    }
    const dtype = unknown[i % unknown.length];
    header[name].dtype = dtype;
    writeFile(dir, header, dataLength);
    return { name: `dtype "${dtype}"`, dir, errorClass: UnsupportedDtypeError, check: (e) => (assert.equal(e.tensor, name), assert.equal(e.dtype, dtype)) };
  },
  "bad shape": (rand, i) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const name = tensorNames(header)[Math.floor(rand() * tensorNames(header).length)];
    const bads: unknown[] = [[-1, 4], [2.5, 2], ["2", 2], [2, null], "2x2", 4, null, [Number.MAX_SAFE_INTEGER + 2, 1], [2, {}]];
    const value = bads[i % bads.length];
    let field: string;
    if (i % 10 === 9) {
      delete header[name].shape;
      field = `tensor "${name}".shape`;
    } else {
      header[name].shape = value;
      field = Array.isArray(value) ? `tensor "${name}".shape[${value.findIndex((d) => !(typeof d === "number" && Number.isSafeInteger(d) && d >= 0))}]` : `tensor "${name}".shape`;
    }
    writeFile(dir, header, dataLength);
    return { name: `shape ${JSON.stringify(value)}`, dir, errorClass: SafetensorsFormatError, field };
  },
  "bad data_offsets": (rand, i) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const name = tensorNames(header)[Math.floor(rand() * tensorNames(header).length)];
    const [b, e] = header[name].data_offsets;
    const variants: [unknown, string, string?][] = [
      [[b + 0.5, e], `tensor "${name}".data_offsets[0]`],
      [[b, e - 0.25], `tensor "${name}".data_offsets[1]`],
      [[-4, e], `tensor "${name}".data_offsets[0]`],
      [[String(b), e], `tensor "${name}".data_offsets[0]`],
      [[b], `tensor "${name}".data_offsets`],
      [[b, e, e], `tensor "${name}".data_offsets`],
      [{ begin: b, end: e }, `tensor "${name}".data_offsets`],
      [[e + 4, b], `tensor "${name}".data_offsets`, "reversed"],
      [undefined, `tensor "${name}".data_offsets`, "missing"],
    ];
    const [value, field, mention] = variants[i % variants.length];
    if (value === undefined) delete header[name].data_offsets;
    else header[name].data_offsets = value;
    writeFile(dir, header, dataLength);
    return { name: `offsets ${JSON.stringify(value)}`, dir, errorClass: SafetensorsFormatError, field, mentions: mention ? [mention] : [] };
  },
  "overlapping offsets": (rand) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const names = tensorNames(header);
    // move a later tensor to start inside an earlier one, keeping its size right
    const j = 1 + Math.floor(rand() * (names.length - 1));
    const i = Math.floor(rand() * j);
    const [b1, e1] = header[names[i]].data_offsets;
    const [b2, e2] = header[names[j]].data_offsets;
    const start = b1 + 2 * Math.floor((rand() * (e1 - b1)) / 2);
    header[names[j]].data_offsets = [start, start + (e2 - b2)];
    writeFile(dir, header, dataLength);
    // the error names whichever of the two starts later, and the other
    return {
      name: `${names[j]} moved to ${start}`, dir, errorClass: SafetensorsFormatError,
      check: (e) => {
        assert.match(e.field, /^tensor "layer\.\d\.weight"\.data_offsets$/);
        assert.match(e.message, /overlaps tensor "layer\.\d\.weight" \[\d+, \d+\]/);
        assert.ok(e.message.includes(`"${names[j]}"`), `the moved tensor ${names[j]} is not named: ${e.message}`);
      },
    };
  },
  "offsets past end of data": (rand) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const names = tensorNames(header);
    const name = names[Math.floor(rand() * names.length)];
    const [b, e] = header[name].data_offsets;
    const shift = dataLength + 2 * (1 + Math.floor(rand() * 1000));
    header[name].data_offsets = [b + shift, e + shift];
    writeFile(dir, header, dataLength);
    return { name: `${name} shifted by ${shift}`, dir, errorClass: SafetensorsFormatError, field: `tensor "${name}".data_offsets`, mentions: [`end ${e + shift}`, `(${dataLength} bytes`] };
  },
  "shape disagrees with byte span": (rand) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const names = tensorNames(header);
    const name = names[Math.floor(rand() * names.length)];
    header[name].shape = [header[name].shape[0] + 1 + Math.floor(rand() * 3), header[name].shape[1]];
    writeFile(dir, header, dataLength);
    const [b, e] = header[name].data_offsets;
    return { name: `${name} shape ${header[name].shape}`, dir, errorClass: SafetensorsFormatError, field: `tensor "${name}".data_offsets`, mentions: [`spans ${e - b} bytes`] };
  },
  "truncated data section": (rand) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const json = JSON.stringify(header);
    const cut = 8 + json.length + Math.floor(rand() * dataLength);
    writeFile(dir, json, dataLength, { cut });
    return { name: `cut at ${cut}`, dir, errorClass: SafetensorsFormatError, mentions: ["runs past the data section", "truncated"], check: (e) => assert.match(e.field, /^tensor ".*"\.data_offsets$/) };
  },
  "bad __metadata__": (rand, i) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const bads: unknown[] = [{ format: 1 }, { a: null }, ["pt"], "pt", 7, { nested: { x: "y" } }];
    header.__metadata__ = bads[i % bads.length];
    writeFile(dir, header, dataLength);
    const bad = bads[i % bads.length];
    const field = bad !== null && typeof bad === "object" && !Array.isArray(bad) ? `__metadata__.${Object.keys(bad)[0]}` : "__metadata__";
    return { name: `metadata ${JSON.stringify(bad)}`, dir, errorClass: SafetensorsFormatError, field };
  },
  "broken shard index": (rand, i) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const names = tensorNames(header);
    const shard = "model-00001-of-00002.safetensors";
    const file = writeFile(dir, header, dataLength);
    fs.renameSync(file, path.join(dir, shard));
    const weightMap: Record<string, string> = Object.fromEntries(names.map((n) => [n, shard]));
    const index = path.join(dir, "model.safetensors.index.json");
    switch (i % 5) {
      case 0: {
        weightMap[names[0]] = "model-00002-of-00002.safetensors";
        fs.writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
        return { name: "missing shard", dir, errorClass: MissingFileError, check: (e) => assert.equal(e.file, path.join(dir, "model-00002-of-00002.safetensors")) };
      }
      case 1: {
        weightMap["lm_head.weight"] = shard;
        fs.writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
        return { name: "tensor absent from its shard", dir, errorClass: SafetensorsFormatError, field: 'weight_map["lm_head.weight"]', mentions: [shard] };
      }
      case 2: {
        fs.writeFileSync(index, JSON.stringify({ weight_map: weightMap }).slice(0, 10 + Math.floor(rand() * 20)));
        return { name: "index not JSON", dir, errorClass: SafetensorsFormatError, field: "(root)", mentions: [index] };
      }
      case 3: {
        fs.writeFileSync(index, JSON.stringify({ metadata: {}, weights: weightMap }));
        return { name: "no weight_map", dir, errorClass: SafetensorsFormatError, field: "weight_map" };
      }
      default: {
        weightMap[names[0]] = ["../outside.safetensors", "/etc/passwd", "sub\\x.safetensors", 3][Math.floor(rand() * 4)] as string;
        fs.writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
        return { name: `shard ${weightMap[names[0]]}`, dir, errorClass: SafetensorsFormatError, field: `weight_map["${names[0]}"]` };
      }
    }
  },
  "non-finite weights": (rand, i) => {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    const names = tensorNames(header);
    const name = names[names.length - 1];
    const json = Buffer.from(JSON.stringify(header));
    const file = writeFile(dir, json, dataLength);
    const bytes = fs.readFileSync(file);
    const { dtype, data_offsets: [b, e] } = header[name];
    const width = dtype === "F32" ? 4 : 2;
    const index = Math.floor((rand() * (e - b)) / width);
    const at = 8 + json.length + b + index * width;
    const bad = [NaN, Infinity, -Infinity][i % 3];
    if (width === 4) bytes.writeFloatLE(bad, at);
    else bytes.writeUInt16LE(Number.isNaN(bad) ? 0x7fc0 : bad > 0 ? 0x7f80 : 0xff80, at);
    fs.writeFileSync(file, bytes);
    return { name: `${bad} at ${name}[${index}]`, dir, errorClass: NonFiniteWeightError, onRead: true, check: (err) => (assert.equal(err.tensor, name), assert.equal(err.index, index)) };
  },
};

let total = 0;
for (const [kind, make] of Object.entries(kinds)) {
  describe(kind, () => {
    const count = kind === "header not an object" || kind === "bad __metadata__" || kind === "non-finite weights" ? 12 : PER_KIND;
    total += count;
    test(`${count} generated cases raise the right error naming the field`, () => {
      const rand = seeded(kind.length * 7919 + 1);
      for (let i = 0; i < count; i++) {
        const c = make(rand, i);
        try {
          expectFailure(c);
        } finally {
          fs.rmSync(c.dir, { recursive: true, force: true });
        }
      }
    });
  });
}

test("at least 200 corrupted inputs were generated", () => {
  assert.ok(total >= 200, `only ${total}`);
});

test("the untouched base files open and read cleanly (the damage, not the generator, causes each error)", () => {
  const rand = seeded(11);
  for (let i = 0; i < 20; i++) {
    const dir = tempDir();
    const { header, dataLength } = baseHeader(rand);
    writeFile(dir, header, dataLength);
    const w = openWeightSource(dir);
    for (const n of tensorNames(header)) assert.equal(w.read(n).length, header[n].shape[0] * header[n].shape[1]);
    w.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
