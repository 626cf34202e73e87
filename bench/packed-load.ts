// Benchmark: host memory while a BF16 checkpoint is loaded onto webgpu, with its matrices kept packed (2 bytes per
// value, uploaded one tensor at a time) and, in the same run, with LMPROBE_PACKED_WEIGHTS=0 (float32 at load).
//
//   node --import tsx bench/packed-load.ts [--shape llama8b|mid|small] [--dir DIR] [--modes packed,packed-whole,float32]
//                                          [--no-disk-rate]
//
// Writes random BF16 weights in the shapes of Llama-3.1-8B (hidden 4096, 32 layers, 32 heads, 8 key/value heads,
// intermediate 14336, vocab 128256, untied lm_head; 16 GB) as 4 GB shards into DIR (kept, and reused when it
// already holds them), then loads it in one fresh child process per mode, so that each one's peak RSS (VmHWM)
// counts only that load and one short forward pass. Prints one JSON object: peak RSS, the bytes tfjs holds on the
// device, how many weights are packed, the load's time against the disk's read rate (dd with O_DIRECT over the
// shards, measured in the same run) and the slice uploader's own figures. Modes: "packed" streams each tensor in
// slices (LMPROBE_UPLOAD_SLICE_BYTES, default 64 MiB); "packed-whole" forces one slice per tensor (the host then
// holds whole tensors, up to two at once: the one being written and the next one being read; before slicing, a load
// held one whole tensor and its staging copy: the baseline); "packed-one-read" reads each slice with one positioned
// read instead of parts of LMPROBE_READ_PART_BYTES in flight at once (the reads before parts: their baseline;
// repeat modes to alternate them, e.g. --modes packed-one-read,packed,packed-one-read,packed); "float32" widens at load
// (LMPROBE_PACKED_WEIGHTS=0). Before each load the shards are evicted from the page cache (posix_fadvise
// DONTNEED through python3, best effort; `pageCacheEvicted` says whether it worked), so that each load reads the
// disk. `--shape small` is a two-layer model of the same family for a quick check (software adapters limit buffers
// to 128 MiB); there the device memory is host memory too, so compare peakRssMinusDeviceBytes.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { peakRssBytes, randomBf16 } from "./random-weights";

const SHAPES = {
  llama8b: { hidden: 4096, layers: 32, heads: 32, kvHeads: 8, headDim: 128, intermediate: 14336, vocab: 128256 },
  // Llama-3.2-1B's blocks with a 32000-token vocabulary (2.1 GB), so that every tensor fits the 128 MiB buffers of
  // Dawn's null backend and of software adapters: a load whose host work can be timed without a GPU.
  mid: { hidden: 2048, layers: 16, heads: 32, kvHeads: 8, headDim: 64, intermediate: 8192, vocab: 32000 },
  small: { hidden: 512, layers: 2, heads: 8, kvHeads: 2, headDim: 64, intermediate: 1536, vocab: 32000 },
};
type Shape = (typeof SHAPES)[keyof typeof SHAPES];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function llamaShapes(s: Shape): Record<string, number[]> {
  const d = s.hidden;
  const shapes: Record<string, number[]> = { "model.embed_tokens.weight": [s.vocab, d], "model.norm.weight": [d], "lm_head.weight": [s.vocab, d] };
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(shapes, {
      [`${p}input_layernorm.weight`]: [d],
      [`${p}post_attention_layernorm.weight`]: [d],
      [`${p}self_attn.q_proj.weight`]: [s.heads * s.headDim, d],
      [`${p}self_attn.k_proj.weight`]: [s.kvHeads * s.headDim, d],
      [`${p}self_attn.v_proj.weight`]: [s.kvHeads * s.headDim, d],
      [`${p}self_attn.o_proj.weight`]: [d, s.heads * s.headDim],
      [`${p}mlp.gate_proj.weight`]: [s.intermediate, d],
      [`${p}mlp.up_proj.weight`]: [s.intermediate, d],
      [`${p}mlp.down_proj.weight`]: [d, s.intermediate],
    });
  }
  return shapes;
}

async function writeCheckpoint(dir: string, s: Shape): Promise<void> {
  const { writeShardedSafetensors } = await import("../src/io/safetensors-writer");
  const shapes = llamaShapes(s);
  let seed = 1;
  const tensors = Object.fromEntries(
    Object.entries(shapes).map(([name, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const mine = seed++;
      return [name, { dtype: "BF16" as const, shape, bytes: () => (name.endsWith("norm.weight") ? ones(n) : randomBf16(n, mine * 2654435761)) }];
    }),
  );
  writeShardedSafetensors(dir, tensors, { maxShardBytes: 4 * 2 ** 30 });
  const config = {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: s.hidden, intermediate_size: s.intermediate,
    num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, head_dim: s.headDim,
    vocab_size: s.vocab, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 500000, hidden_act: "silu",
    tie_word_embeddings: false, torch_dtype: "bfloat16", bos_token_id: 0, eos_token_id: 0,
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  // A tokenizer for loadModel (the demo's; its ids are below every vocabulary here).
  const demo = path.resolve(__dirname, "../models/lmprobe-demo");
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(demo, f), path.join(dir, f));
}

function ones(n: number): Uint8Array {
  return new Uint8Array(new Uint16Array(n).fill(0x3f80).buffer);
}

/** Child process: load once, run one short forward pass, print one JSON line. */
async function measure(dir: string, mode: string): Promise<void> {
  if (mode === "float32") process.env.LMPROBE_PACKED_WEIGHTS = "0";
  if (mode === "packed-whole") process.env.LMPROBE_UPLOAD_SLICE_BYTES = String(2 ** 40);
  if (mode === "packed-one-read") process.env.LMPROBE_READ_PART_BYTES = String(2 ** 40);
  const tf = await import("@tensorflow/tfjs-core");
  const { loadModel } = await import("../src/load");
  const { canonicalParameters } = await import("../src/model/canonical");
  const { isPacked } = await import("../src/backend/packed-weight");
  const { lastUploadStats, uploadSliceBytes } = await import("../src/backend/packed-upload");
  await import("../src/backend").then((b) => b.setBackend("webgpu"));
  const rssBeforeLoad = fs.readFileSync("/proc/self/status", "utf8").match(/VmRSS:\s+(\d+)/)![1];
  const t0 = performance.now();
  const model = await loadModel(dir, { backend: "webgpu" });
  const loadSeconds = (performance.now() - t0) / 1000;
  const afterLoad = peakRssBytes();
  const deviceBytes = tf.memory().numBytes;
  const run = model.run([1, 2, 3, 4, 5, 6, 7, 8]);
  const logits = await run.logits.data();
  run.dispose();
  const params = canonicalParameters(model.weights);
  process.stdout.write(
    JSON.stringify({
      mode,
      backend: tf.getBackend(),
      loadSeconds,
      rssBeforeLoadBytes: Number(rssBeforeLoad) * 1024,
      peakRssAfterLoadBytes: afterLoad,
      peakRssBytes: peakRssBytes(),
      deviceTensorBytes: deviceBytes,
      peakRssMinusDeviceBytes: afterLoad - deviceBytes,
      uploadSliceBytes: mode === "float32" ? null : uploadSliceBytes(),
      upload: mode === "float32" ? null : lastUploadStats(),
      packedWeights: params.filter(isPacked).length,
      weights: params.length,
      logitsFinite: logits.every(Number.isFinite),
    }) + "\n",
  );
  model.dispose();
}

/** Drops the shards' pages from the page cache (python3's os.posix_fadvise DONTNEED); false where that failed. */
function evictFromPageCache(files: string[]): boolean {
  const script = "import os,sys\nfor f in sys.argv[1:]:\n  fd=os.open(f,os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)";
  return spawnSync("python3", ["-c", script, ...files]).status === 0;
}

/** The disk's sequential read rate over the shards: dd with O_DIRECT (no page cache), 64 MiB blocks. */
function diskReadRate(files: string[]): { bytes?: number; seconds?: number; bytesPerSecond?: number; method?: string; error?: string } {
  let bytes = 0;
  const t0 = performance.now();
  for (const f of files) {
    const r = spawnSync("dd", [`if=${f}`, "of=/dev/null", "bs=64M", "iflag=direct"], { encoding: "utf8" });
    if (r.status !== 0) return { error: `dd on ${f}: ${r.stderr.trim().slice(-300)}` };
    bytes += fs.statSync(f).size;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { bytes, seconds, bytesPerSecond: bytes / seconds, method: "dd bs=64M iflag=direct, shards one after another" };
}

async function main(): Promise<void> {
  if (arg("--measure")) return measure(arg("--measure")!, arg("--mode")!);
  const shapeName = (arg("--shape") ?? "llama8b") as keyof typeof SHAPES;
  const shape = SHAPES[shapeName];
  if (!shape) throw new Error(`--shape ${shapeName}: use ${Object.keys(SHAPES).join(" or ")}`);
  const dir = arg("--dir") ?? path.join(os.tmpdir(), `lmprobe-packed-load-${shapeName}`);
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, "model.safetensors.index.json"))) await writeCheckpoint(dir, shape);
  const bytesOnDisk = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  const shards = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).map((f) => path.join(dir, f));
  const disk = process.argv.includes("--no-disk-rate") ? null : diskReadRate(shards);
  const runs = (arg("--modes") ?? "packed,packed-whole,float32").split(",").map((mode) => {
    const pageCacheEvicted = evictFromPageCache(shards);
    const child = spawnSync(process.execPath, [...process.execArgv, __filename, "--measure", dir, "--mode", mode], { encoding: "utf8", maxBuffer: 1 << 24 });
    const last = child.stdout.trim().split("\n").pop() ?? "";
    try {
      const run = JSON.parse(last);
      return { ...run, pageCacheEvicted, diskBytesPerSecondDuringLoad: bytesOnDisk / run.loadSeconds, ...(disk?.bytesPerSecond ? { loadTimeToDiskReadTime: run.loadSeconds / (bytesOnDisk / disk.bytesPerSecond) } : {}) };
    } catch {
      return { mode, error: `${child.stdout}\n${child.stderr}`.trim().slice(-1500), status: child.status, signal: child.signal };
    }
  });
  const packed = runs.find((r) => r.mode === "packed" && !r.error);
  const whole = runs.find((r) => r.mode === "packed-whole" && !r.error);
  const float32 = runs.find((r) => r.mode === "float32" && !r.error);
  // Reads in parts against one read per slice: medians over the runs of each (repeated modes alternate them).
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const loads = (mode: string) => runs.filter((r) => r.mode === mode && !r.error).map((r) => r.loadSeconds as number);
  const [partsLoads, oneReadLoads] = [loads("packed"), loads("packed-one-read")];
  const readParts = partsLoads.length && oneReadLoads.length
    ? { readParts: { loadSecondsParts: partsLoads, loadSecondsOneRead: oneReadLoads, medianLoadRatioOneReadToParts: median(oneReadLoads) / median(partsLoads) } }
    : {};
  console.log(
    JSON.stringify(
      {
        benchmark: "packed-load",
        shape: { name: shapeName, ...shape },
        bytesOnDisk,
        host: { cpus: os.cpus().length, totalMemoryBytes: os.totalmem() },
        diskRead: disk,
        runs,
        ...(packed && whole ? { peakRssRatioSlicedToWhole: packed.peakRssBytes / whole.peakRssBytes, loadTimeRatioSlicedToWhole: packed.loadSeconds / whole.loadSeconds } : {}),
        ...readParts,
        ...(packed && float32 ? { peakRssRatioPackedToFloat32: packed.peakRssBytes / float32.peakRssBytes, deviceBytesRatioPackedToFloat32: packed.deviceTensorBytes / float32.deviceTensorBytes } : {}),
      },
      null,
      2,
    ),
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
