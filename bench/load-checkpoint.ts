// Benchmark: load time and peak memory of a large sharded BF16 checkpoint.
//
//   node --import tsx bench/load-checkpoint.ts [--tied] [--backend wasm|cpu] [--keep DIR]
//
// Writes random BF16 weights in the shapes of Qwen2.5-0.5B (hidden 896, 24 layers, 14 heads, 2 key/value
// heads, intermediate 4864, vocab 151936) as 500 MB shards into a temporary directory, then loads it in two
// fresh child processes, so that each one's peak RSS (VmHWM) counts only the load:
//   "tensors":   openCheckpoint + every tensor read into a tfjs tensor on the backend (the io path alone);
//   "loadModel": the public loadModel(), including the engine's conversion into its canonical layout.
// Prints one JSON object. Qwen2.5-0.5B ties its unembedding to the embedding, which makes the checkpoint
// 0.99 GB; by default the benchmark stores a separate lm_head (as the larger Qwen2.5 models do) so that
// the checkpoint exceeds 1 GB. --tied writes the exact tied shapes.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { peakRssBytes, randomBf16 } from "./random-weights";

const QWEN = { hidden: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936 };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function qwenShapes(tied: boolean): Record<string, number[]> {
  const { hidden: d, layers, heads, kvHeads, headDim, intermediate: m, vocab } = QWEN;
  const shapes: Record<string, number[]> = { "model.embed_tokens.weight": [vocab, d], "model.norm.weight": [d] };
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(shapes, {
      [`${p}input_layernorm.weight`]: [d],
      [`${p}post_attention_layernorm.weight`]: [d],
      [`${p}self_attn.q_proj.weight`]: [heads * headDim, d],
      [`${p}self_attn.q_proj.bias`]: [heads * headDim],
      [`${p}self_attn.k_proj.weight`]: [kvHeads * headDim, d],
      [`${p}self_attn.k_proj.bias`]: [kvHeads * headDim],
      [`${p}self_attn.v_proj.weight`]: [kvHeads * headDim, d],
      [`${p}self_attn.v_proj.bias`]: [kvHeads * headDim],
      [`${p}self_attn.o_proj.weight`]: [d, heads * headDim],
      [`${p}mlp.gate_proj.weight`]: [m, d],
      [`${p}mlp.up_proj.weight`]: [m, d],
      [`${p}mlp.down_proj.weight`]: [d, m],
    });
  }
  if (!tied) shapes["lm_head.weight"] = [vocab, d];
  return shapes;
}

async function writeCheckpoint(dir: string, tied: boolean): Promise<void> {
  const { writeShardedSafetensors } = await import("../src/io/safetensors-writer");
  const demo = path.join(__dirname, "..", "models", "lmprobe-demo");
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(demo, f), path.join(dir, f));
  const config = {
    architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_size: QWEN.hidden, num_hidden_layers: QWEN.layers,
    num_attention_heads: QWEN.heads, num_key_value_heads: QWEN.kvHeads, intermediate_size: QWEN.intermediate,
    vocab_size: QWEN.vocab, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000.0,
    hidden_act: "silu", tie_word_embeddings: tied, torch_dtype: "bfloat16", bos_token_id: 0, eos_token_id: 0,
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2));
  let seed = 12345;
  const tensors = Object.fromEntries(Object.entries(qwenShapes(tied)).map(([name, shape]) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const s = seed++;
    return [name, { dtype: "BF16" as const, shape, bytes: () => randomBf16(count, s * 2654435761) }];
  }));
  writeShardedSafetensors(dir, tensors, { maxShardBytes: 500 * 1024 * 1024 });
}

/** Child process: load once, print one JSON line. */
async function measure(dir: string, mode: string, backend: string): Promise<void> {
  const tf = await import("@tensorflow/tfjs-core");
  const { setBackend } = await import("../src/backend");
  await setBackend(backend as "wasm" | "cpu");
  const { openWeightSource } = await import("../src/io/safetensors-weights");
  const { estimateMemory } = await import("../src/io/memory-estimate");
  const described = openWeightSource(dir);
  const float32WeightBytes = estimateMemory(described).weightBytes; // from the headers only
  described.close();
  const start = process.hrtime.bigint();
  if (mode === "tensors") {
    const { openCheckpoint } = await import("../src/io/checkpoint");
    const { checkMemoryFits, estimateMemory } = await import("../src/io/memory-estimate");
    const ck = openCheckpoint(dir);
    checkMemoryFits(estimateMemory(ck.weights));
    const held: import("@tensorflow/tfjs-core").Tensor[] = [];
    for (const name of ck.weights.names()) {
      const data = ck.weights.read(name);
      held.push(tf.tensor(data, ck.weights.info(name).shape, "float32"));
    }
    ck.weights.close();
  } else {
    const { loadModel } = await import("../src/load");
    const model = await loadModel(dir);
    void model;
  }
  const loadSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const peak = peakRssBytes();
  process.stdout.write(JSON.stringify({ mode, backend: tf.getBackend(), loadSeconds, peakRssBytes: peak, float32WeightBytes, ratio: peak / float32WeightBytes }) + "\n");
}

async function main(): Promise<void> {
  if (arg("--measure")) {
    return measure(arg("--measure")!, arg("--mode")!, arg("--backend") ?? "wasm").catch((e: Error) => {
      process.stdout.write(JSON.stringify({ mode: arg("--mode"), error: e.message }) + "\n");
      process.exitCode = 1;
    });
  }
  const tied = process.argv.includes("--tied");
  const backend = arg("--backend") ?? "wasm";
  const dir = arg("--keep") ?? fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-bench-load-"));
  fs.mkdirSync(dir, { recursive: true });
  try {
    const writeStart = Date.now();
    if (!fs.existsSync(path.join(dir, "model.safetensors.index.json"))) await writeCheckpoint(dir, tied);
    const writeSeconds = (Date.now() - writeStart) / 1000;
    const shards = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors"));
    const bytesOnDisk = shards.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    const runs = ["tensors", "loadModel"].map((mode) => {
      const child = spawnSync(process.execPath, [...process.execArgv, __filename, "--measure", dir, "--mode", mode, "--backend", backend], { encoding: "utf8", maxBuffer: 1 << 24 });
      const last = child.stdout.trim().split("\n").pop() ?? "";
      let parsed: Record<string, unknown> | null = null;
      try {
        parsed = JSON.parse(last);
      } catch {
        // a crash (out of memory, a signal): the tail of what it printed is the message
      }
      if (child.status !== 0 || !parsed) return { mode, error: typeof parsed?.error === "string" ? parsed.error : (child.stderr || child.stdout || `exit ${child.status ?? child.signal}`).trim().split("\n").slice(-5).join("\n") };
      return parsed;
    });
    const result = {
      benchmark: "load-sharded-bf16-checkpoint",
      shapes: { ...QWEN, tied },
      shards: shards.length,
      bytesOnDisk,
      writeSeconds,
      host: { cpus: os.cpus().length, totalMemoryBytes: os.totalmem(), node: process.version },
      runs,
      limit: "peakRssBytes <= 1.5 * float32WeightBytes",
      withinLimit: runs.every((r) => "ratio" in r && (r.ratio as number) <= 1.5),
      // A run that could not load (the model does not fit this backend, say) is a benchmark that did not run:
      // its message is the error and the exit status is non-zero.
      ...(runs.some((r) => "error" in r) ? { error: runs.filter((r) => "error" in r).map((r) => `${r.mode}: ${r.error}`).join("\n") } : {}),
    };
    console.log(JSON.stringify(result, null, 2));
    if ("error" in result) process.exitCode = 1;
  } finally {
    if (!arg("--keep")) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
