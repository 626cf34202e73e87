// The shape of the activation at each hook point of a forward pass without a key/value cache, from the model's
// dimensions alone: the gradient cache needs it before the pass runs (it differentiates with respect to a zero
// tensor added at each requested point). gradients.ts checks every activation against it as the pass runs.
import { ArgumentError } from "../errors";
import type { CanonicalModel } from "./canonical";

/** Hook points whose activation is not a differentiable float tensor (the chosen experts' ids). */
const NOT_DIFFERENTIABLE = new Set(["mlp.hook_expert_indices"]);

/**
 * Shape of hook `name` for a batch of `batch` rows of `pos` positions. `lastPositionOnly`: the pass unembeds only
 * the last position, so ln_final sees one position.
 */
export function hookShape(model: CanonicalModel, name: string, batch: number, pos: number, lastPositionOnly = false): number[] {
  const d = model.dModel;
  if (name === "hook_embed" || name === "hook_pos_embed") return [batch, pos, d];
  if (name === "ln_final.hook_normalized") return [batch, lastPositionOnly ? 1 : pos, d];
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (!m || Number(m[1]) >= model.nLayers) throw new ArgumentError("names", `holds "${name}", not a hook point of this model`, "use names from model.hookPoints()");
  const block = model.blocks[Number(m[1])];
  const local = m[2];
  if (NOT_DIFFERENTIABLE.has(local)) throw new ArgumentError("names", `holds "${name}", whose activation (expert ids, int32) has no gradient`, "ask for mlp.hook_router_logits or mlp.hook_expert_weights instead");
  const { nHeads, nKVHeads, dHead } = block.attn;
  switch (local) {
    case "hook_resid_pre":
    case "hook_resid_mid":
    case "hook_resid_post":
    case "hook_attn_out":
    case "hook_mlp_out":
    case "ln1.hook_normalized":
    case "ln2.hook_normalized":
      return [batch, pos, d];
    case "attn.hook_q":
    case "attn.hook_rot_q":
    case "attn.hook_z":
      return [batch, pos, nHeads, dHead];
    case "attn.hook_k":
    case "attn.hook_rot_k":
    case "attn.hook_v":
      return [batch, pos, nKVHeads, dHead];
    case "attn.hook_attn_scores":
    case "attn.hook_pattern":
      return [batch, nHeads, pos, pos];
  }
  if (block.mlp.kind === "dense" && ["mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_post"].includes(local)) return [batch, pos, block.mlp.W_in.shape[1]];
  if (block.mlp.kind === "moe" && local === "mlp.hook_router_logits") return [batch, pos, block.mlp.numExperts];
  if (block.mlp.kind === "moe" && local === "mlp.hook_expert_weights") return [batch, pos, block.mlp.topK];
  throw new ArgumentError("names", `holds "${name}", not a hook point of this model`, "use names from model.hookPoints()");
}
