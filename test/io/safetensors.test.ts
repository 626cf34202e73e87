import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { SafetensorsFile } from "../../src/io/safetensors";
import { openWeightSource } from "../../src/io/safetensors-weights";
import { writeSafetensors, writeShardedSafetensors, type TensorToWrite } from "../../src/io/safetensors-writer";
import { DEMO, decodeElement, rawHeader, seeded, tempDir, tinyFixtures, TINY } from "./helpers";

/** Every weight file of a checkpoint directory (the single file or the shards). */
function weightFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors") && !f.includes("reference") && !f.startsWith("gradients")).map((f) => path.join(dir, f));
}

for (const dir of [...tinyFixtures(), DEMO]) {
  test(`${path.basename(dir)}: every tensor's dtype, shape and sampled values match the raw bytes`, () => {
    const weights = openWeightSource(dir);
    try {
      const seen = new Set<string>();
      const rand = seeded(dir.length);
      for (const file of weightFiles(dir)) {
        const { entries, dataStart } = rawHeader(file);
        for (const [name, entry] of Object.entries(entries)) {
          seen.add(name);
          const info = weights.info(name);
          assert.equal(info.dtype, entry.dtype, name);
          assert.deepEqual(info.shape, entry.shape, name);
          assert.equal(info.file, file);
          const data = weights.read(name);
          const size = entry.shape.reduce((a, b) => a * b, 1);
          assert.equal(data.length, size, name);
          const samples = [0, size - 1, ...Array.from({ length: 6 }, () => Math.floor(rand() * size))];
          for (const i of samples) assert.ok(Object.is(data[i], decodeElement(file, entry, dataStart, i)), `${name}[${i}]`);
        }
      }
      assert.deepEqual(weights.names(), [...seen].sort());
    } finally {
      weights.close();
    }
  });
}

test("the stored dtypes are what the fixtures promise: F16 shards, BF16 demo, F32 elsewhere", () => {
  const dtypes = (dir: string) => {
    const weights = openWeightSource(dir);
    try {
      return new Set(weights.names().map((n) => weights.info(n).dtype));
    } finally {
      weights.close();
    }
  };
  assert.deepEqual(dtypes(path.join(TINY, "llama3-f16-sharded")), new Set(["F16"]));
  assert.deepEqual(dtypes(DEMO), new Set(["BF16"]));
  assert.deepEqual(dtypes(path.join(TINY, "gpt2")), new Set(["F32"]));
  const sharded = openWeightSource(path.join(TINY, "llama3-f16-sharded"));
  assert.equal(new Set(sharded.names().map((n) => sharded.info(n).file)).size, 2);
  sharded.close();
});

test("writer round trip: F32 exact, F16/BF16 rounded to nearest, I64 ids, metadata kept, header 8-aligned", () => {
  const dir = tempDir();
  const rand = seeded(3);
  const values = Float32Array.from({ length: 1000 }, () => (rand() - 0.5) * 100);
  const file = path.join(dir, "t.safetensors");
  writeSafetensors(file, {
    f32: { dtype: "F32", shape: [10, 100], data: values },
    f16: { dtype: "F16", shape: [1000], data: values },
    bf16: { dtype: "BF16", shape: [2, 500], data: () => values },
    ids: { dtype: "I64", shape: [4], data: [0, 5, 1023, 2 ** 40] },
    empty: { dtype: "F32", shape: [0, 3], data: [] },
  }, { format: "pt", note: "lmprobe" });
  const st = SafetensorsFile.open(file);
  assert.equal(st.header.headerLength % 8, 0);
  assert.deepEqual(st.metadata, { format: "pt", note: "lmprobe" });
  assert.deepEqual([...st.readFloat32("f32")], [...values]);
  const f16 = st.readFloat32("f16");
  const bf16 = st.readFloat32("bf16");
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // the spacing of float16 / bfloat16 values near v bounds the rounding error by half of it
    assert.ok(Math.abs(f16[i] - v) <= 2 ** (Math.floor(Math.log2(Math.abs(v))) - 11) + 2 ** -25, `f16 ${v} → ${f16[i]}`);
    assert.ok(Math.abs(bf16[i] - v) <= 2 ** (Math.floor(Math.log2(Math.abs(v))) - 8), `bf16 ${v} → ${bf16[i]}`);
  }
  assert.deepEqual(st.readIntegers("ids"), [0, 5, 1023, 2 ** 40]);
  assert.equal(st.readFloat32("empty").length, 0);
  st.close();
  assert.ok(!fs.existsSync(`${file}.partial`));
});

test("a bfloat16 sharded copy of a fixture reads back as the fixture rounded to bfloat16", () => {
  const src = openWeightSource(path.join(TINY, "llama"));
  const dir = tempDir();
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of src.names()) tensors[name] = { dtype: "BF16", shape: src.info(name).shape, data: () => src.read(name) };
  const shards = writeShardedSafetensors(dir, tensors, { maxShardBytes: 64 * 1024 });
  assert.ok(shards.length >= 3, `expected several shards, got ${shards.length}`);
  const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8"));
  assert.deepEqual(Object.keys(index.weight_map).sort(), src.names());
  const copy = openWeightSource(dir);
  try {
    assert.deepEqual(copy.names(), src.names());
    for (const name of src.names()) {
      assert.equal(copy.info(name).dtype, "BF16");
      assert.deepEqual(copy.info(name).shape, src.info(name).shape);
      const original = src.read(name);
      const back = copy.read(name);
      for (let i = 0; i < original.length; i++) {
        const v = original[i];
        const tol = v === 0 ? 0 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 8);
        assert.ok(Math.abs(back[i] - v) <= tol, `${name}[${i}]: ${v} → ${back[i]}`);
      }
      // and the bytes on disk decode independently to the same values
      const file = copy.info(name).file;
      const { entries, dataStart } = rawHeader(file);
      assert.ok(Object.is(back[original.length - 1], decodeElement(file, entries[name], dataStart, original.length - 1)));
    }
  } finally {
    copy.close();
    src.close();
  }
});

test("F32 tensors larger than one read chunk are read whole", () => {
  const dir = tempDir();
  const n = 3 * 1024 * 1024 + 17; // 12 MiB of F32: spans two 8 MiB chunks; 6 MiB of BF16
  const values = Float32Array.from({ length: n }, (_, i) => (i % 255) - 127); // exact in bfloat16
  writeSafetensors(path.join(dir, "big.safetensors"), {
    a: { dtype: "F32", shape: [n], data: values },
    b: { dtype: "BF16", shape: [n], data: values },
  });
  const st = SafetensorsFile.open(path.join(dir, "big.safetensors"));
  for (const name of ["a", "b"]) {
    const back = st.readFloat32(name);
    for (const i of [0, 2 * 1024 * 1024, 2 * 1024 * 1024 + 1, 4 * 1024 * 1024, n - 1]) assert.equal(back[i], values[i], `${name}[${i}]`);
  }
  st.close();
});

test("an asynchronous slice read in parts (LMPROBE_READ_PART_BYTES) gives the synchronous read's bytes; a truncated file is refused by name with no part still writing", async () => {
  const dir = tempDir();
  const file = path.join(dir, "parts.safetensors");
  const n = 1000;
  const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100);
  writeSafetensors(file, { w: { dtype: "BF16", shape: [n], data: values } });
  const saved = process.env.LMPROBE_READ_PART_BYTES;
  try {
    const st = SafetensorsFile.open(file);
    const expected = new Uint8Array(2 * 700);
    st.readSlice("w", 2 * 123, expected);
    // 7 bytes a part: parts end mid-value, the last one short; one part for the whole slice: the earlier read.
    for (const part of ["7", "1400", "1"]) {
      process.env.LMPROBE_READ_PART_BYTES = part;
      const got = new Uint8Array(2 * 700);
      await st.readSliceAsync("w", 2 * 123, got);
      assert.deepEqual(got, expected, `parts of ${part} bytes`);
    }
    process.env.LMPROBE_READ_PART_BYTES = "0";
    await assert.rejects(st.readSliceAsync("w", 0, new Uint8Array(8)), /LMPROBE_READ_PART_BYTES/);
    st.close();
    // The header promises 2000 bytes; cut the last 100 off the file: the parts past the end find no data.
    process.env.LMPROBE_READ_PART_BYTES = "64";
    const cut = SafetensorsFile.open(file);
    fs.truncateSync(file, fs.statSync(file).size - 100);
    const target = new Uint8Array(2 * n).fill(0xee);
    await assert.rejects(cut.readSliceAsync("w", 0, target), (e: Error) => /truncated/.test(e.message) && /"w"/.test(e.message));
    // Every part settled before the error: what the buffer holds now stays (nothing writes into it later).
    const snapshot = target.slice();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(target, snapshot);
    cut.close();
  } finally {
    if (saved === undefined) delete process.env.LMPROBE_READ_PART_BYTES;
    else process.env.LMPROBE_READ_PART_BYTES = saved;
  }
});
