// Every hook point of the engine, in forward order, as ONE table: shorthand, TransformerLens name, the axes of its
// activation and the models that have it. Everything else derives from it: the names a model has
// (hookPointNames), the shorthand resolveHookName expands, the axes interventions select along
// (intervene/hook-layout.ts), "did you mean" for a mistyped name, and the README's list of hook points.
import type { BlockWeights, CanonicalModel } from "./canonical";

/**
 * An axis of a hook's activation. `pos` is the token position; attention patterns and scores have `query` and
 * `key` instead. `kv_head` is a key/value head (fewer than the query heads under grouped-query attention).
 */
export type HookAxis = "batch" | "pos" | "query" | "key" | "head" | "kv_head" | "d_model" | "d_head" | "d_mlp" | "d_q_latent" | "d_kv_latent" | "expert" | "k";

/** When a hook point exists: on every model, or only where the model has the part that produces it. */
export type HookCondition =
  | "always"
  | "learned_positions"
  | "final_norm"
  | "ln1"
  | "ln2"
  | "rotary"
  | "sequential_block"
  | "dense_mlp"
  | "gated_mlp"
  | "moe_mlp"
  | "mla"
  | "mla_q_latent"
  | "shared_expert";

/** One hook point. */
export interface HookPoint {
  /** Shorthand: "resid_post" (a per-block point: every block, or one with a layer) or "embed". */
  readonly short: string;
  /** TransformerLens's name: under `blocks.{l}.` for a per-block point ("attn.hook_z"), whole for a global one. */
  readonly name: string;
  readonly scope: "global" | "block";
  /** Axes of the activation, in order. */
  readonly axes: readonly HookAxis[];
  readonly when: HookCondition;
  /** What the activation is. */
  readonly about: string;
  /** Other shorthands that name the same point. */
  readonly aliases?: readonly string[];
}

const RESID: readonly HookAxis[] = ["batch", "pos", "d_model"];

/** The hook points, in the order the forward pass reaches them (per-block ones once per block). */
export const HOOK_POINTS: readonly HookPoint[] = [
  {
    short: "embed",
    name: "hook_embed",
    scope: "global",
    axes: RESID,
    when: "always",
    about: "token embeddings (scaled where the model scales them)",
  },
  {
    short: "pos_embed",
    name: "hook_pos_embed",
    scope: "global",
    axes: RESID,
    when: "learned_positions",
    about: "learned position embeddings",
  },
  {
    short: "resid_pre",
    name: "hook_resid_pre",
    scope: "block",
    axes: RESID,
    when: "always",
    about: "the residual stream entering the block",
  },
  {
    short: "ln1",
    name: "ln1.hook_normalized",
    scope: "block",
    axes: RESID,
    when: "ln1",
    about: "attention's input norm",
  },
  {
    short: "q_latent",
    name: "attn.hook_q_latent",
    scope: "block",
    axes: ["batch", "pos", "d_q_latent"],
    when: "mla_q_latent",
    about: "multi-head latent attention: the normalised query latent (q_lora_rank wide)",
  },
  {
    short: "kv_latent",
    name: "attn.hook_kv_latent",
    scope: "block",
    axes: ["batch", "pos", "d_kv_latent"],
    when: "mla",
    about: "multi-head latent attention: the normalised key/value latent (kv_lora_rank wide), what DeepSeek caches",
  },
  {
    short: "q",
    name: "attn.hook_q",
    scope: "block",
    axes: ["batch", "pos", "head", "d_head"],
    when: "always",
    about: "queries (after any q norm)",
  },
  {
    short: "k",
    name: "attn.hook_k",
    scope: "block",
    axes: ["batch", "pos", "kv_head", "d_head"],
    when: "always",
    about: "keys of this run's positions",
  },
  {
    short: "v",
    name: "attn.hook_v",
    scope: "block",
    axes: ["batch", "pos", "kv_head", "d_head"],
    when: "always",
    about: "values of this run's positions",
  },
  {
    short: "rot_q",
    name: "attn.hook_rot_q",
    scope: "block",
    axes: ["batch", "pos", "head", "d_head"],
    when: "rotary",
    about: "queries after rotary",
  },
  {
    short: "rot_k",
    name: "attn.hook_rot_k",
    scope: "block",
    axes: ["batch", "pos", "kv_head", "d_head"],
    when: "rotary",
    about: "keys after rotary",
  },
  {
    short: "attn_scores",
    name: "attn.hook_attn_scores",
    scope: "block",
    axes: ["batch", "head", "query", "key"],
    when: "always",
    about: "scaled, softcapped and masked scores (an attention sink's logit is not among the keys)",
  },
  {
    short: "pattern",
    name: "attn.hook_pattern",
    scope: "block",
    axes: ["batch", "head", "query", "key"],
    when: "always",
    about: "attention probabilities (with sinks, the sink's share is left out and a row sums to less than 1)",
    aliases: ["attn"],
  },
  {
    short: "z",
    name: "attn.hook_z",
    scope: "block",
    axes: ["batch", "pos", "head", "d_head"],
    when: "always",
    about: "each head's output before W_O",
  },
  {
    short: "attn_out",
    name: "hook_attn_out",
    scope: "block",
    axes: RESID,
    when: "always",
    about: "attention's output (after any post-attention norm)",
  },
  {
    short: "resid_mid",
    name: "hook_resid_mid",
    scope: "block",
    axes: RESID,
    when: "sequential_block",
    about: "the residual stream between attention and the MLP",
  },
  {
    short: "ln2",
    name: "ln2.hook_normalized",
    scope: "block",
    axes: RESID,
    when: "ln2",
    about: "the MLP's input norm",
  },
  {
    short: "pre",
    name: "mlp.hook_pre",
    scope: "block",
    axes: ["batch", "pos", "d_mlp"],
    when: "dense_mlp",
    about: "the activation function's input (the gate's, when gated)",
  },
  {
    short: "pre_linear",
    name: "mlp.hook_pre_linear",
    scope: "block",
    axes: ["batch", "pos", "d_mlp"],
    when: "gated_mlp",
    about: "the linear (\"up\") branch of a gated MLP",
  },
  {
    short: "post",
    name: "mlp.hook_post",
    scope: "block",
    axes: ["batch", "pos", "d_mlp"],
    when: "dense_mlp",
    about: "the MLP's hidden activations, before W_out",
  },
  {
    short: "router_logits",
    name: "mlp.hook_router_logits",
    scope: "block",
    axes: ["batch", "pos", "expert"],
    when: "moe_mlp",
    about: "the router's raw logits (bias included)",
  },
  {
    short: "expert_indices",
    name: "mlp.hook_expert_indices",
    scope: "block",
    axes: ["batch", "pos", "k"],
    when: "moe_mlp",
    about: "the chosen experts (int32), highest weight first",
  },
  {
    short: "expert_weights",
    name: "mlp.hook_expert_weights",
    scope: "block",
    axes: ["batch", "pos", "k"],
    when: "moe_mlp",
    about: "the chosen experts' weights",
  },
  {
    short: "shared_expert_out",
    name: "mlp.hook_shared_expert_out",
    scope: "block",
    axes: RESID,
    when: "shared_expert",
    about: "the always-on shared expert's output, after its gate",
  },
  {
    short: "mlp_out",
    name: "hook_mlp_out",
    scope: "block",
    axes: RESID,
    when: "always",
    about: "the MLP's output (after any post-MLP norm)",
  },
  {
    short: "resid_post",
    name: "hook_resid_post",
    scope: "block",
    axes: RESID,
    when: "always",
    about: "the residual stream leaving the block",
  },
  {
    short: "ln_final",
    name: "ln_final.hook_normalized",
    scope: "global",
    axes: RESID,
    when: "final_norm",
    about: "the final norm's output, before the unembedding",
  },
];

/** Each condition in words (for docs and messages) and as a test on the model and, for per-block points, a block. */
export const HOOK_CONDITIONS: Readonly<Record<HookCondition, { text: string; holds: (model: CanonicalModel, block?: BlockWeights) => boolean }>> = {
  always: { text: "every model", holds: () => true },
  learned_positions: { text: "models with learned position embeddings (GPT-2)", holds: (m) => m.posEmbed !== null },
  final_norm: { text: "models with a final norm", holds: (m) => m.lnFinal !== null },
  ln1: { text: "blocks with an input norm before attention", holds: (_m, b) => !!b?.ln1 },
  ln2: { text: "blocks with an input norm before the MLP", holds: (_m, b) => !!b?.ln2 },
  rotary: { text: "rotary models (not GPT-2)", holds: (_m, b) => !!b?.attn.rotary },
  sequential_block: { text: "sequential blocks (not GPT-NeoX's parallel ones)", holds: (_m, b) => !!b && !b.parallel },
  dense_mlp: { text: "dense MLPs (not mixtures of experts)", holds: (_m, b) => b?.mlp.kind === "dense" },
  gated_mlp: { text: "gated MLPs (SwiGLU, GeGLU)", holds: (_m, b) => b?.mlp.kind === "dense" && b.mlp.gated },
  moe_mlp: { text: "mixture-of-experts blocks", holds: (_m, b) => b?.mlp.kind === "moe" },
  mla: { text: "multi-head latent attention (DeepSeek-V3)", holds: (_m, b) => !!b?.attn.mla },
  mla_q_latent: { text: "multi-head latent attention with a query latent (q_lora_rank)", holds: (_m, b) => !!b?.attn.mla?.W_QA },
  shared_expert: { text: "mixture-of-experts blocks with a shared expert (Qwen2-MoE, DeepSeek-V3)", holds: (_m, b) => b?.mlp.kind === "moe" && !!b.mlp.shared },
};

const BLOCK_PREFIX = /^blocks\.(\d+)\./;

/** The full name of a hook point ("blocks.3.hook_resid_post" for a per-block one at layer 3). */
export function hookPointName(point: HookPoint, layer?: number): string {
  return point.scope === "global" ? point.name : `blocks.${layer}.${point.name}`;
}

/** The point a shorthand or alias names ("resid_post", "attn"), or undefined. */
export function hookPointByShort(short: string): HookPoint | undefined {
  return HOOK_POINTS.find((p) => p.short === short || p.aliases?.includes(short));
}

/**
 * The point of a full name ("blocks.0.attn.hook_z", "hook_embed") or of a per-block name without its block
 * ("attn.hook_z"), or undefined.
 */
export function hookPointOf(name: string): HookPoint | undefined {
  const local = name.replace(BLOCK_PREFIX, "");
  const scope = BLOCK_PREFIX.test(name) ? "block" : undefined;
  return HOOK_POINTS.find((p) => p.name === local && (scope === undefined || p.scope === scope));
}

/** Every hook point the model has, in forward order. */
export function hookPointNames(model: CanonicalModel): string[] {
  const holds = (p: HookPoint, block?: BlockWeights) => HOOK_CONDITIONS[p.when].holds(model, block);
  const globals = (points: readonly HookPoint[]) => points.filter((p) => holds(p)).map((p) => hookPointName(p));
  const firstBlock = HOOK_POINTS.findIndex((p) => p.scope === "block");
  const lastBlock = HOOK_POINTS.length - 1 - [...HOOK_POINTS].reverse().findIndex((p) => p.scope === "block");
  const perBlock = HOOK_POINTS.slice(firstBlock, lastBlock + 1);
  return [
    ...globals(HOOK_POINTS.slice(0, firstBlock)),
    ...model.blocks.flatMap((block, l) => perBlock.filter((p) => holds(p, block)).map((p) => hookPointName(p, l))),
    ...globals(HOOK_POINTS.slice(lastBlock + 1)),
  ];
}
