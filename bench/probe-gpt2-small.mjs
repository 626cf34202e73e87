// A randomly initialised GPT-2-small-shaped model (124 M parameters, vocabulary 50257) built in memory through
// the engine's own gpt2 converter: the WeightSource below hands it deterministic random tensors by HF name,
// so no checkpoint has to be written to disk. Its tokenizer only names ids ("<123>"): the benchmark feeds ids.

const D = 768;
const LAYERS = 12;
const HEADS = 12;
const VOCAB = 50257;
const POSITIONS = 1024;

export const GPT2_SMALL_CONFIG = {
  model_type: "gpt2",
  architectures: ["GPT2LMHeadModel"],
  n_embd: D,
  n_layer: LAYERS,
  n_head: HEADS,
  n_positions: POSITIONS,
  vocab_size: VOCAB,
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
  tie_word_embeddings: true,
  bos_token_id: 50256,
  eos_token_id: 50256,
};

function shapes() {
  const s = { "transformer.wte.weight": [VOCAB, D], "transformer.wpe.weight": [POSITIONS, D], "transformer.ln_f.weight": [D], "transformer.ln_f.bias": [D] };
  for (let l = 0; l < LAYERS; l++) {
    const p = `transformer.h.${l}.`;
    Object.assign(s, {
      [p + "ln_1.weight"]: [D], [p + "ln_1.bias"]: [D], [p + "ln_2.weight"]: [D], [p + "ln_2.bias"]: [D],
      [p + "attn.c_attn.weight"]: [D, 3 * D], [p + "attn.c_attn.bias"]: [3 * D],
      [p + "attn.c_proj.weight"]: [D, D], [p + "attn.c_proj.bias"]: [D],
      [p + "mlp.c_fc.weight"]: [D, 4 * D], [p + "mlp.c_fc.bias"]: [4 * D],
      [p + "mlp.c_proj.weight"]: [4 * D, D], [p + "mlp.c_proj.bias"]: [D],
    });
  }
  return s;
}

/** A WeightSource of random float32 tensors (weights ~ U(−0.035, 0.035), LayerNorm gains 1, biases 0). */
export function randomGpt2Weights(seed = 1) {
  const table = shapes();
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  return {
    origin: "random GPT-2 small (in memory)",
    names: () => Object.keys(table).sort(),
    has: (name) => name in table,
    info: (name) => ({ name, dtype: "F32", shape: table[name], file: "(memory)" }),
    read(name) {
      const shape = table[name];
      const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (/ln_.*weight|ln_f\.weight/.test(name)) out.fill(1);
      else if (!name.endsWith(".bias")) for (let i = 0; i < out.length; i++) out[i] = (next() - 0.5) * 0.07;
      return out;
    },
    close() {},
  };
}

/** Names ids only; enough for tables built from id input. */
export const idTokenizer = {
  vocabSize: VOCAB,
  bosTokenId: 50256,
  eosTokenIds: [50256],
  padTokenId: null,
  hasChatTemplate: false,
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) % VOCAB),
  decode: (ids) => ids.map((i) => `<${i}>`).join(""),
  idsToTokens: (ids) => ids.map((i) => `<${i}>`),
  tokenTexts: (ids) => ids.map((i) => `<${i}>`),
  tokenToId: () => undefined,
  applyChatTemplate: () => {
    throw new Error("no chat template");
  },
};
