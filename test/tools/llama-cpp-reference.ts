// llama.cpp (through node-llama-cpp's prebuilt CPU binary) as the reference for GGUF files: its tokenisation
// and its next-token log-probabilities at every position of a prompt.
import type { Llama } from "node-llama-cpp";

// node-llama-cpp is an ES module with top-level await: it cannot be require()d, which is what the CommonJS
// test build turns a static import into; a dynamic import() built at run time stays an import.
const importEsm = new Function("specifier", "return import(specifier)") as (s: string) => Promise<typeof import("node-llama-cpp")>;

let llama: Promise<Llama> | null = null;

/** The CPU build only: no GPU probing, and never a source build (which would need a network). */
export function llamaCpp(): Promise<Llama> {
  llama ??= importEsm("node-llama-cpp").then(({ getLlama }) => getLlama({ gpu: false, build: "never", logLevel: "error" as never, progressLogs: false } as never));
  return llama;
}

export async function llamaCppTokenize(file: string, text: string): Promise<number[]> {
  const model = await (await llamaCpp()).loadModel({ modelPath: file });
  try {
    return [...model.tokenize(text, false)];
  } finally {
    await model.dispose();
  }
}

/** log p(next token = v | tokens[..=i]) for every position i and vocabulary entry v, from llama.cpp. */
export async function llamaCppLogProbs(file: string, tokens: number[], vocabSize: number): Promise<Float64Array[]> {
  const model = await (await llamaCpp()).loadModel({ modelPath: file });
  try {
    // A float32 KV cache and no flash attention: what is left of the difference is llama.cpp's quantised
    // activations in its quantised dot products (the default F16 cache would add its own rounding).
    const context = await model.createContext({
      contextSize: 128, batchSize: 128, threads: 2, flashAttention: false,
      experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
    } as never);
    try {
      const sequence = context.getSequence();
      const results = await sequence.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true } }] as never));
      return results.map((r, i) => {
        const probabilities = (r as { next?: { probabilities?: Map<number, number> } } | undefined)?.next?.probabilities;
        if (!probabilities) throw new Error(`llama.cpp returned no probabilities at position ${i}`);
        const out = new Float64Array(vocabSize).fill(-Infinity);
        for (const [token, p] of probabilities) out[token] = Math.log(p);
        return out;
      });
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}
