// Benchmark: a quantised GGUF loaded whole (dequantised at load) against streamed (each block dequantised when
// the forward pass reaches it, two resident at most), on the same file, each in a fresh child process.
//
//   node --import tsx bench/gguf-streaming.ts [--type Q4_K] [--backend wasm|cpu] [--keep FILE]
//
// Writes a random llama-shaped model (hidden 1024, 12 layers, 16 heads, 4 key/value heads, intermediate 2816,
// vocabulary 32000, untied: 0.2 B parameters) in the given type, then for each mode reports the backend's tensor
// bytes after loading and after a 16-token forward pass, the peak RSS (VmHWM) of the process, load and forward
// times. Also prints the memory estimate lmprobe computes for Llama-3.2-3B's shapes in Q4_K (no weights written).
// Prints one JSON object.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const SHAPE = { hidden: 1024, layers: 12, heads: 16, kvHeads: 4, headDim: 64, intermediate: 2816, vocab: 32000 };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function child(file: string, mode: string, backend: string): Promise<void> {
  const tf = await import("@tensorflow/tfjs-core");
  const { loadModel } = await import("../src/load");
  const t0 = performance.now();
  const model = await loadModel(file, { backend: backend as "wasm", layerStreaming: mode as "always" });
  const loadMs = performance.now() - t0;
  const afterLoad = tf.memory().numBytes;
  const ids = Array.from({ length: 16 }, (_, i) => (i * 37) % 500 + 1);
  const t1 = performance.now();
  const run = model.run([ids]);
  const logits = await run.logits.data();
  const forwardMs = performance.now() - t1;
  const afterForward = tf.memory().numBytes;
  run.dispose();
  const peak = Number(fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"))!.replace(/\D+/g, "")) * 1024;
  console.log(JSON.stringify({ mode, loadMs: Math.round(loadMs), forwardMs: Math.round(forwardMs), tensorBytesAfterLoad: afterLoad, tensorBytesAfterForward: afterForward, peakRssBytes: peak, residentLayers: model.weights.layerWeights?.residentLayers() ?? "all", logitsChecksum: logits.slice(0, 8).reduce((a, b) => a + b, 0) }));
  model.dispose();
}

async function writeModel(file: string, type: string): Promise<void> {
  const { quantize } = await import("../test/tools/ggml-quantize");
  const { writeGguf } = await import("../test/tools/gguf-writer");
  const { tokenizerMetadata } = await import("../test/tools/gguf-from-hf");
  let seed = 1;
  const random = (n: number, std: number) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      out[i] = ((seed >>> 0) / 4294967296 - 0.5) * std * 3.46;
    }
    return out;
  };
  const s = SHAPE;
  const tensors: Array<{ name: string; type: string; dims: number[]; data: Uint8Array }> = [];
  const mat = (name: string, rows: number, cols: number, t = type) => tensors.push({ name, type: t, dims: [cols, rows], data: quantize(t, random(rows * cols, 0.05)) });
  const norm = (name: string) => tensors.push({ name, type: "F32", dims: [s.hidden], data: quantize("F32", new Float32Array(s.hidden).fill(1)) });
  mat("token_embd.weight", s.vocab, s.hidden);
  mat("output.weight", s.vocab, s.hidden);
  norm("output_norm.weight");
  for (let l = 0; l < s.layers; l++) {
    mat(`blk.${l}.attn_q.weight`, s.heads * s.headDim, s.hidden);
    mat(`blk.${l}.attn_k.weight`, s.kvHeads * s.headDim, s.hidden);
    mat(`blk.${l}.attn_v.weight`, s.kvHeads * s.headDim, s.hidden);
    mat(`blk.${l}.attn_output.weight`, s.hidden, s.heads * s.headDim);
    mat(`blk.${l}.ffn_gate.weight`, s.intermediate, s.hidden);
    mat(`blk.${l}.ffn_up.weight`, s.intermediate, s.hidden);
    mat(`blk.${l}.ffn_down.weight`, s.hidden, s.intermediate, type === "Q4_K" || type === "Q5_K" ? "Q6_K" : type);
    norm(`blk.${l}.attn_norm.weight`);
    norm(`blk.${l}.ffn_norm.weight`);
  }
  const u32 = (value: number) => ({ type: "u32" as const, value });
  writeGguf(file, [
    ["general.architecture", { type: "string", value: "llama" }],
    ["llama.context_length", u32(2048)], ["llama.embedding_length", u32(s.hidden)], ["llama.block_count", u32(s.layers)],
    ["llama.feed_forward_length", u32(s.intermediate)], ["llama.attention.head_count", u32(s.heads)], ["llama.attention.head_count_kv", u32(s.kvHeads)],
    ["llama.rope.freq_base", { type: "f32", value: 500000 }], ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["llama.vocab_size", u32(s.vocab)],
    ...tokenizerMetadata(path.resolve(__dirname, "../test/fixtures/tiny/llama")),
  ], tensors);
}

/** lmprobe's estimate for Llama-3.2-3B's shapes (tied, 28 layers, hidden 3072, kv 8 × 128, intermediate 8192). */
async function estimate3B(): Promise<Record<string, unknown>> {
  const { estimateMemory, WASM_HEAP_BYTES } = await import("../src/io/memory-estimate");
  const h = 3072, kv = 1024, inter = 8192, vocab = 128256;
  const shapes: Array<[string, number[], number]> = [["model.embed_tokens.weight", [vocab, h], 4.5], ["model.norm.weight", [h], 32]];
  for (let l = 0; l < 28; l++) {
    const p = `model.layers.${l}.`;
    shapes.push([`${p}self_attn.q_proj.weight`, [h, h], 4.5], [`${p}self_attn.k_proj.weight`, [kv, h], 4.5], [`${p}self_attn.v_proj.weight`, [kv, h], 6.5625],
      [`${p}self_attn.o_proj.weight`, [h, h], 4.5], [`${p}mlp.gate_proj.weight`, [inter, h], 4.5], [`${p}mlp.up_proj.weight`, [inter, h], 4.5],
      [`${p}mlp.down_proj.weight`, [h, inter], 6.5625], [`${p}input_layernorm.weight`, [h], 32], [`${p}post_attention_layernorm.weight`, [h], 32]);
  }
  const info = new Map(shapes.map(([name, shape, bits]) => [name, { name, dtype: "F32" as const, shape, file: "", quantisation: { type: "Q4_K_M", bytes: Math.ceil((shape.reduce((a, b) => a * b, 1) * bits) / 8) } }]));
  const weights = { origin: "llama-3.2-3b-shapes", names: () => [...info.keys()], has: (n: string) => info.has(n), info: (n: string) => info.get(n)!, read: () => new Float32Array(0), close: () => {} };
  const e = estimateMemory(weights);
  return { quantisedBytes: e.storedBytes, float32NeededBytes: e.totalBytes, streamedNeededBytes: e.streaming!.totalBytes, streamedNeededOnWasm: e.streaming!.totalBytes + e.streaming!.residentMatrixBytes, wasmHeapBytes: WASM_HEAP_BYTES };
}

async function main(): Promise<void> {
  const mode = arg("--child");
  const backend = arg("--backend") ?? "wasm";
  if (mode) return child(arg("--file")!, mode, backend);
  const type = arg("--type") ?? "Q4_K";
  const file = arg("--keep") ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-bench-gguf-")), `bench.${type}.gguf`);
  const t0 = performance.now();
  if (!fs.existsSync(file)) await writeModel(file, type);
  const writeMs = performance.now() - t0;
  const runs = ["never", "always"].map((m) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", __filename, "--child", m, "--file", file, "--backend", backend], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${m}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
  });
  const [whole, streamed] = runs;
  console.log(JSON.stringify({
    benchmark: "gguf-streaming", backend, type, shape: SHAPE, fileBytes: fs.statSync(file).size, writeMs: Math.round(writeMs),
    whole, streamed,
    ratios: {
      tensorBytesAfterForward: +(streamed.tensorBytesAfterForward / whole.tensorBytesAfterForward).toFixed(3),
      peakRss: +(streamed.peakRssBytes / whole.peakRssBytes).toFixed(3),
      forwardTime: +(streamed.forwardMs / whole.forwardMs).toFixed(3),
      sameLogits: streamed.logitsChecksum === whole.logitsChecksum,
    },
    llama32_3B_Q4_K_M_estimate: await estimate3B(),
  }, null, 1));
  if (!arg("--keep")) fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
