// Defaults of each family's configuration class in Hugging Face transformers (configuration_<family>.py),
// for the fields a config.json may omit, and the alternative spellings of shared fields.

/** [normalised field, spellings in priority order]. The field itself is always tried first. */
export const fieldAliases: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["hidden_size", ["hidden_size", "n_embd", "d_model"]],
  ["num_hidden_layers", ["num_hidden_layers", "n_layer"]],
  ["num_attention_heads", ["num_attention_heads", "n_head"]],
  ["max_position_embeddings", ["max_position_embeddings", "n_positions", "n_ctx"]],
  ["intermediate_size", ["intermediate_size", "n_inner"]],
  ["norm_eps", ["rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps"]],
  // Gemma reads hidden_activation even where an older hidden_act is also present.
  ["hidden_act", ["hidden_activation", "hidden_act", "activation_function"]],
  ["num_local_experts", ["num_local_experts", "num_experts"]],
];

const llamaLike = {
  hidden_act: "silu",
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  attention_bias: false,
  mlp_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
};

export const architectureDefaults: Record<string, Record<string, unknown>> = {
  llama: { ...llamaLike, max_position_embeddings: 2048 },
  mistral: { ...llamaLike, max_position_embeddings: 4096 * 32, sliding_window: 4096, sliding_window_everywhere: true },
  mixtral: { ...llamaLike, rms_norm_eps: 1e-5, max_position_embeddings: 4096 * 32, sliding_window: null, sliding_window_everywhere: true, num_experts_per_tok: 2, num_local_experts: 8 },
  qwen2: { ...llamaLike, bos_token_id: null, eos_token_id: null, max_position_embeddings: 32768, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28 },
  qwen3: { ...llamaLike, bos_token_id: null, eos_token_id: null, head_dim: 128, max_position_embeddings: 32768, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28 },
  qwen3_moe: { ...llamaLike, bos_token_id: null, eos_token_id: null, max_position_embeddings: 32768, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28, decoder_sparse_step: 1, moe_intermediate_size: 768, num_experts_per_tok: 8, num_experts: 128, norm_topk_prob: false },
  gemma2: {
    hidden_activation: "gelu_pytorch_tanh",
    rms_norm_eps: 1e-6,
    head_dim: 256,
    max_position_embeddings: 8192,
    tie_word_embeddings: true,
    attention_bias: false,
    query_pre_attn_scalar: 256,
    sliding_window: 4096,
    final_logit_softcapping: 30.0,
    attn_logit_softcapping: 50.0,
    pad_token_id: 0,
    eos_token_id: 1,
    bos_token_id: 2,
    sliding_window_pattern: 2,
  },
  gemma3_text: {
    hidden_activation: "gelu_pytorch_tanh",
    rms_norm_eps: 1e-6,
    head_dim: 256,
    max_position_embeddings: 131072,
    tie_word_embeddings: true,
    attention_bias: false,
    query_pre_attn_scalar: 256,
    sliding_window: 4096,
    final_logit_softcapping: null,
    attn_logit_softcapping: null,
    pad_token_id: 0,
    eos_token_id: 1,
    bos_token_id: 2,
    sliding_window_pattern: 6,
  },
  gpt_neox: { hidden_act: "gelu", layer_norm_eps: 1e-5, max_position_embeddings: 2048, tie_word_embeddings: false, use_parallel_residual: true, attention_bias: true, bos_token_id: 0, eos_token_id: 2 },
  gpt2: { n_positions: 1024, activation_function: "gelu_new", layer_norm_epsilon: 1e-5, scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, tie_word_embeddings: true, bos_token_id: 50256, eos_token_id: 50256 },
  olmo2: { ...llamaLike, rms_norm_eps: 1e-5, max_position_embeddings: 2048, pad_token_id: 1, bos_token_id: null, eos_token_id: 50279 },
  phi3: { ...llamaLike, rms_norm_eps: 1e-5, max_position_embeddings: 4096, original_max_position_embeddings: 4096, sliding_window: null, sliding_window_everywhere: true, bos_token_id: 1, eos_token_id: 32000, pad_token_id: 32000 },
  gpt_oss: { ...llamaLike, rms_norm_eps: 1e-5, head_dim: 64, max_position_embeddings: 131072, sliding_window: 128, attention_bias: true, bos_token_id: null, eos_token_id: null, num_experts_per_tok: 4, num_local_experts: 128, default_rope_theta: 150000, sliding_window_pattern: 2 },
};
