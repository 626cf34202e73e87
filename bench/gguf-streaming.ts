// Benchmark: a quantised GGUF loaded whole (dequantised at load) against streamed (each block dequantised when
// the forward pass reaches it, two resident at most), on the same file, each in a fresh child process.
//
//   node --import tsx bench/gguf-streaming.ts [--shape small|llama-3.2-3b] [--type Q4_K] [--backend cpu-native|wasm|cpu]
//        [--positions 16] [--probe] [--modes always,never] [--keep FILE]
//
// Writes a random llama-shaped model in the given type (matrices in it, ffn_down in Q6_K for Q4_K/Q5_K as
// llama.cpp's _M mixes do, norms F32), one tensor at a time so that writing never holds the float32 model:
//   small         hidden 1024, 12 layers, 16 heads, 4 key/value heads, intermediate 2816, vocabulary 32000,
//                 untied (0.2 B parameters)
//   llama-3.2-3b  Llama-3.2-3B's shapes: hidden 3072, 28 layers, 24 heads, 8 key/value heads, intermediate 8192,
//                 vocabulary 128256, tied (token_embd in Q6_K, as llama.cpp quantises a tied output): 3.2 B
//                 parameters, 12.9 GB in float32, about 1.9 GB in Q4_K
// then, for each mode in --modes (default never,always) in a fresh child: what layerStreaming "auto" would choose
// on this machine now and why, the backend's tensor bytes after loading and after a forward pass of --positions
// tokens, the process's peak RSS (VmHWM) after each phase, load and forward times; with --probe also a logit
// lens over every layer and position (top-5, entropy, one target), as bench/probe.mjs runs it. A mode whose
// float32 form does not fit is refused by lmprobe's own memory check and reported as such. The streamed run's
// peak is compared with the bound the design states: quantised file + two blocks in float32 + activations.
// Prints one JSON object. Timings on a shared machine are noisy (the load average is printed); memory is not.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Shape { hidden: number; layers: number; heads: number; kvHeads: number; headDim: number; intermediate: number; vocab: number; tied: boolean; embeddingType?: string }
const SHAPES: Record<string, Shape> = {
  small: { hidden: 1024, layers: 12, heads: 16, kvHeads: 4, headDim: 64, intermediate: 2816, vocab: 32000, tied: false },
  "llama-3.2-3b": { hidden: 3072, layers: 28, heads: 24, kvHeads: 8, headDim: 128, intermediate: 8192, vocab: 128256, tied: true, embeddingType: "Q6_K" },
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function procStatus(field: "VmHWM" | "VmRSS"): number {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${field}:`))!;
  return Number(line.replace(/\D+/g, "")) * 1024;
}

const loadAverage = () => os.loadavg().map((x) => +x.toFixed(2));

async function child(file: string, mode: string, backend: string, T: number, probe: boolean): Promise<void> {
  const tf = await import("@tensorflow/tfjs-core");
  const { setBackend } = await import("../src/backend/index");
  const { openCheckpoint } = await import("../src/io/checkpoint");
  const { estimateMemory, chooseLayerStreaming, backendCapacity } = await import("../src/io/memory-estimate");
  const { loadModel } = await import("../src/load");
  const { logitLens } = await import("../src/probe/logit-lens");
  await setBackend(backend as "wasm");
  const rssBeforeLoad = procStatus("VmRSS");

  // What "auto" would choose here, from the same estimate loadModel makes.
  const checkpoint = openCheckpoint(file);
  const estimate = estimateMemory(checkpoint.weights);
  checkpoint.weights.close();
  const capacity = backendCapacity(backend);
  let auto: string;
  try {
    auto = chooseLayerStreaming(estimate, "auto", backend) ? "streamed" : "whole";
  } catch (e) {
    auto = `refused: ${(e as Error).message.split("\n")[0]}`;
  }

  const t0 = performance.now();
  let model;
  try {
    model = await loadModel(file, { backend: backend as "wasm", layerStreaming: mode as "always" });
  } catch (e) {
    console.log(JSON.stringify({ mode, refused: `${(e as Error).name}: ${(e as Error).message}`, auto, freeBytes: os.freemem() }));
    return;
  }
  const loadMs = performance.now() - t0;
  const afterLoad = tf.memory().numBytes;
  const peakRssAfterLoad = procStatus("VmHWM");
  const ids = Array.from({ length: T }, (_, i) => (i * 37) % 500 + 1);
  const t1 = performance.now();
  let logitsChecksum = 0;
  const forward = await tf.profile(async () => {
    const run = model.run([ids]);
    const logits = await run.logits.data();
    logitsChecksum = Array.from(logits.slice(0, 8) as Float32Array).reduce((a, b) => a + b, 0);
    run.dispose();
    return [];
  });
  const forwardMs = performance.now() - t1;
  const afterForward = tf.memory().numBytes;
  const peakRssAfterForward = procStatus("VmHWM");
  let lens: Record<string, unknown> | undefined;
  if (probe) {
    const t2 = performance.now();
    let top: unknown;
    const before = tf.memory().numTensors;
    const info = await tf.profile(async () => {
      const r = await logitLens(model, ids, { k: 5, targets: [ids[T - 1]], positions: "all" });
      top = r.entropy.objects().at(-1);
      return [];
    });
    lens = { ms: Math.round(performance.now() - t2), peakTensorBytes: info.peakBytes, rows: (model.config.numLayers + 1) * T, lastRow: top, tensorsLeaked: tf.memory().numTensors - before, peakRss: procStatus("VmHWM") };
  }
  const mem = process.memoryUsage();
  console.log(JSON.stringify({
    mode, backend: tf.getBackend(), positions: T,
    auto, autoWhy: { float32NeededBytes: estimate.totalBytes, streamedNeededBytes: estimate.streaming?.totalBytes, quantisedBytes: estimate.storedBytes, capacityBytes: capacity.totalBytes, capacitySource: capacity.source },
    loadMs: Math.round(loadMs), forwardMs: Math.round(forwardMs),
    tensorBytesAfterLoad: afterLoad, tensorBytesAfterForward: afterForward, forwardPeakTensorBytes: forward.peakBytes,
    residentLayers: model.weights.layerWeights?.residentLayers() ?? "all",
    rssBeforeLoad, peakRssAfterLoad, peakRssAfterForward, lens,
    peakRssBytes: procStatus("VmHWM"),
    memoryUsageAtEnd: { rss: mem.rss, heapUsed: mem.heapUsed, arrayBuffers: mem.arrayBuffers, external: mem.external },
    layerFloat32Bytes: estimate.streaming?.layerBytes,
    logitsChecksum, loadAverage: loadAverage(),
  }));
  model.dispose();
}

/** Writes the model tensor by tensor (each generated, quantised, appended, dropped). */
async function writeModel(file: string, type: string, s: Shape): Promise<void> {
  const { quantize } = await import("../test/tools/ggml-quantize");
  const { writeGgufLazily } = await import("../test/tools/gguf-writer");
  type Lazy = Parameters<typeof writeGgufLazily>[2][number];
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
  const tensors: Lazy[] = [];
  const mat = (name: string, rows: number, cols: number, t = type) => tensors.push({ name, type: t, dims: [cols, rows], make: () => quantize(t, random(rows * cols, 0.05)) });
  const norm = (name: string) => tensors.push({ name, type: "F32", dims: [s.hidden], make: () => quantize("F32", new Float32Array(s.hidden).fill(1)) });
  const downType = type === "Q4_K" || type === "Q5_K" ? "Q6_K" : type;
  mat("token_embd.weight", s.vocab, s.hidden, s.embeddingType ?? type);
  if (!s.tied) mat("output.weight", s.vocab, s.hidden);
  norm("output_norm.weight");
  for (let l = 0; l < s.layers; l++) {
    mat(`blk.${l}.attn_q.weight`, s.heads * s.headDim, s.hidden);
    mat(`blk.${l}.attn_k.weight`, s.kvHeads * s.headDim, s.hidden);
    mat(`blk.${l}.attn_v.weight`, s.kvHeads * s.headDim, s.hidden);
    mat(`blk.${l}.attn_output.weight`, s.hidden, s.heads * s.headDim);
    mat(`blk.${l}.ffn_gate.weight`, s.intermediate, s.hidden);
    mat(`blk.${l}.ffn_up.weight`, s.intermediate, s.hidden);
    mat(`blk.${l}.ffn_down.weight`, s.hidden, s.intermediate, downType);
    norm(`blk.${l}.attn_norm.weight`);
    norm(`blk.${l}.ffn_norm.weight`);
  }
  const u32 = (value: number) => ({ type: "u32" as const, value });
  writeGgufLazily(file, [
    ["general.architecture", { type: "string", value: "llama" }],
    ["llama.context_length", u32(2048)], ["llama.embedding_length", u32(s.hidden)], ["llama.block_count", u32(s.layers)],
    ["llama.feed_forward_length", u32(s.intermediate)], ["llama.attention.head_count", u32(s.heads)], ["llama.attention.head_count_kv", u32(s.kvHeads)],
    ["llama.rope.freq_base", { type: "f32", value: 500000 }], ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["llama.vocab_size", u32(s.vocab)],
    ...wholeVocabulary(tokenizerMetadata(path.resolve(__dirname, "../test/fixtures/tiny/llama")), s.vocab),
  ], tensors);
}

/**
 * The tiny llama's tokenizer padded with placeholder tokens to the model's vocabulary, so that every id the
 * random model predicts (the lens's top-k) has a text.
 */
function wholeVocabulary(metadata: Array<[string, any]>, vocab: number): Array<[string, any]> {
  return metadata.map(([key, v]) => {
    if (key === "tokenizer.ggml.tokens") return [key, { ...v, value: [...v.value, ...Array.from({ length: vocab - v.value.length }, (_, i) => `[PAD${v.value.length + i}]`)] }];
    if (key === "tokenizer.ggml.token_type") return [key, { ...v, value: [...v.value, ...new Array(vocab - v.value.length).fill(5)] }];
    return [key, v];
  });
}

/** lmprobe's estimate for Llama-3.2-3B's shapes in Q4_K_M (no weights written), kept for the small shape's runs. */
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
  const backend = arg("--backend") ?? "cpu-native";
  const T = Number(arg("--positions") ?? 16);
  const probe = process.argv.includes("--probe");
  if (mode) return child(arg("--file")!, mode, backend, T, probe);
  const shapeName = arg("--shape") ?? "small";
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`--shape: one of ${Object.keys(SHAPES).join(", ")}`);
  const type = arg("--type") ?? "Q4_K";
  const modes = (arg("--modes") ?? "never,always").split(",");
  const file = arg("--keep") ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-bench-gguf-")), `bench.${shapeName}.${type}.gguf`);
  const t0 = performance.now();
  let written = false;
  if (!fs.existsSync(file)) {
    await writeModel(file, type, shape);
    written = true;
  }
  const writeMs = performance.now() - t0;
  const runs: Record<string, any> = {};
  for (const m of modes) {
    const args = ["--import", "tsx", __filename, "--child", m, "--file", file, "--backend", backend, "--positions", String(T), ...(probe ? ["--probe"] : [])];
    const freeBefore = os.freemem();
    const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${m}: ${r.stderr}`);
    runs[m] = { freeBytesBefore: freeBefore, ...JSON.parse(r.stdout.trim().split("\n").pop()!) };
    console.error(JSON.stringify(runs[m]));
  }
  const whole = runs.never, streamed = runs.always;
  const fileBytes = fs.statSync(file).size;
  const out: Record<string, unknown> = {
    benchmark: "gguf-streaming", backend, type, shapeName, shape, positions: T, fileBytes, writeMs: written ? Math.round(writeMs) : "reused --keep file",
    whole, streamed,
  };
  if (streamed && !streamed.refused) {
    // The design's bound for a streamed model: the quantised file + two blocks in float32 + activations (the
    // forward pass's and the lens's tensors above the weights resident after a forward pass, which hold the two
    // blocks), over the process's RSS before loading.
    const activations = Math.max(streamed.forwardPeakTensorBytes, streamed.lens?.peakTensorBytes ?? 0) - streamed.tensorBytesAfterForward;
    const bound = fileBytes + 2 * streamed.layerFloat32Bytes + activations;
    out.streamedBound = {
      fileBytes, twoLayersFloat32: 2 * streamed.layerFloat32Bytes, activationBytes: activations, boundBytes: bound,
      // What the backend holds instead: every weight outside the blocks in float32 (the embedding, here also the unembedding) + two blocks.
      residentWeightBytes: streamed.tensorBytesAfterForward,
      rssBeforeLoad: streamed.rssBeforeLoad, peakRssAboveStart: streamed.peakRssBytes - streamed.rssBeforeLoad,
      peakOverBound: +((streamed.peakRssBytes - streamed.rssBeforeLoad) / bound).toFixed(3),
      withinBound: streamed.peakRssBytes - streamed.rssBeforeLoad <= bound,
    };
  }
  if (whole && streamed && !whole.refused && !streamed.refused) {
    out.ratios = {
      tensorBytesAfterForward: +(streamed.tensorBytesAfterForward / whole.tensorBytesAfterForward).toFixed(3),
      peakRss: +(streamed.peakRssBytes / whole.peakRssBytes).toFixed(3),
      forwardTime: +(streamed.forwardMs / whole.forwardMs).toFixed(3),
      ...(probe ? { lensTime: +(streamed.lens.ms / whole.lens.ms).toFixed(3) } : {}),
      sameLogits: streamed.logitsChecksum === whole.logitsChecksum,
    };
  }
  if (shapeName === "small") out.llama32_3B_Q4_K_M_estimate = await estimate3B();
  console.log(JSON.stringify(out, null, 1));
  if (!arg("--keep")) fs.rmSync(path.dirname(file), { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
