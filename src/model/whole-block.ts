// A block as one kernel (fusedBlock: cpu-native runs it as one onnxruntime call) where nothing observes anything
// inside it: a probe of the residual stream caches hook_resid_pre / hook_resid_post only, and there a small model's
// blocks spend more in the ~20 kernels' fixed costs than in their arithmetic. Any hook or cache inside the block,
// a KV cache, a gradient, or a block the kernel does not take sends the block op by op (forward.ts's runBlock).
import type * as tf from "@tensorflow/tfjs-core";
import { fusedBlock, type NormSpec } from "../backend/capabilities";
import { isPacked } from "../backend/packed-weight";
import type { BlockWeights } from "./canonical";
import type { HookRunner } from "./hooks";
import { HOOK_POINTS } from "./hook-points";
import type { RotaryTables } from "./components/rotary";

/** The block's hook points between its input and its output (every block-scope point but resid_pre / resid_post). */
const INNER_HOOKS = HOOK_POINTS.filter((p) => p.scope === "block" && p.name !== "hook_resid_pre" && p.name !== "hook_resid_post").map((p) => p.name);

export interface WholeBlockContext {
  hooks: HookRunner;
  mask: tf.Tensor4D;
  rotary: RotaryTables | null;
  /** False with a KV cache (the block must hand its keys and values to it) or where intermediates are streamed. */
  allowed: boolean;
}

/** The block's output (hook_resid_post's input) from its input x [batch, pos, d], or null: run it op by op. */
export function wholeBlock(block: BlockWeights, layer: number, x: tf.Tensor3D, ctx: WholeBlockContext): tf.Tensor3D | null {
  if (!ctx.allowed || !sequentialPlain(block)) return null;
  const { attn, mlp, ln1, ln2 } = block;
  if (mlp.kind !== "dense" || !ln1 || !ln2) return null;
  if (!INNER_HOOKS.every((name) => ctx.hooks.idle(`blocks.${layer}.${name}`))) return null;
  const weights = [attn.W_Q, attn.W_K, attn.W_V, attn.W_O, mlp.W_in, mlp.W_out, ...(mlp.W_gate ? [mlp.W_gate] : [])];
  if (weights.some(isPacked)) return null;
  const rotary = attn.rotary && ctx.rotary ? { ...ctx.rotary, rot: attn.rotary.rotaryDim } : null;
  if (attn.rotary && (!rotary || attn.rotary.style !== "half")) return null;
  const norm = (n: typeof ln1): NormSpec => ({ kind: n.kind, weight: n.weight, bias: n.bias, eps: n.eps, weightOffset: n.weightOffset });
  return fusedBlock(
    x,
    {
      ln1: norm(ln1),
      ln2: norm(ln2),
      heads: attn.nHeads,
      kvHeads: attn.nKVHeads,
      dHead: attn.dHead,
      W_Q: attn.W_Q as tf.Tensor2D,
      b_Q: attn.b_Q,
      W_K: attn.W_K as tf.Tensor2D,
      b_K: attn.b_K,
      W_V: attn.W_V as tf.Tensor2D,
      b_V: attn.b_V,
      W_O: attn.W_O as tf.Tensor2D,
      b_O: attn.b_O,
      scale: attn.scale,
      softcap: attn.softcap,
      mlp: { gated: mlp.gated, act: mlp.act, W_gate: mlp.W_gate as tf.Tensor2D | null, b_gate: mlp.b_gate, W_in: mlp.W_in as tf.Tensor2D, b_in: mlp.b_in, W_out: mlp.W_out as tf.Tensor2D, b_out: mlp.b_out },
    },
    ctx.mask,
    rotary,
  );
}

/** A pre-norm sequential block with plain multi-head attention: no post-norms, sinks, q/k norms, ALiBi or latent attention. */
function sequentialPlain(block: BlockWeights): boolean {
  const a = block.attn;
  if (block.parallel || block.postAttnNorm || block.postMlpNorm || block.residualNorms) return false;
  return !a.mla && !a.sinks && !a.qNorm && !a.kNorm && !a.alibiSlopes;
}
