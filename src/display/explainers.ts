// "What this shows and how to read it": one short note per chart, carried in the chart's HTML (a collapsed
// paragraph under it) and text, and in the report. Keyed by the chart builder's name.
/** The "what this shows and how to read it" note of each chart, by chart builder name. */
export const EXPLAINERS: Readonly<Record<string, string>> = {
  logitLensChart:
    "Each cell decodes the residual stream at one layer (row) and position (column) as if it were the last layer: the token shown is the lens's top prediction, the shade its probability. Read a column upward to see when the model settles on its answer; layer 0 is the embedding alone.",
  targetTrajectoryChart:
    "The probability (or rank) of one chosen token under the logit lens, layer by layer. A rise marks the layers that write that token into the residual stream; a rank of 1 means it is the lens's top prediction there.",
  entropyChart:
    "The entropy (nats) of the lens distribution at each layer and position: high means the decoded prediction is spread over many tokens, low means it has committed. Uncertainty usually peaks mid-depth and collapses near the end.",
  similarityChart:
    "Cosine similarity between the residual stream at pairs of layers (1 = same direction). Blocks of high similarity are layers that change the stream little; a sharp drop marks a layer that rewrites it.",
  attentionChart:
    "Attention weights exactly as the model computed them (RoPE, masks, windows, softcaps, sinks included): each row is a query position, each column a key it may attend to; darker means more attention. Rows sum to 1 (less with sinks).",
  attentionOverviewChart:
    "Every head's attention pattern as a thumbnail, layers as rows and heads as columns. Stripes just below the diagonal are previous-token heads, a dark first column is attention to the first token, an off-diagonal stripe on a repeated sequence is induction.",
  attentionHeadsChart:
    "The full attention pattern of chosen heads (query rows, key columns). Pick another head with the selector where the chart is interactive.",
  tokenProbsChart:
    "The probability the model gave each actual next token, position by position, with the alternatives it preferred. Low bars are surprises; a confident wrong alternative shows where the model expected something else.",
  residualNormChart:
    "The size (L2 norm) of the residual stream after each layer. Steady growth is normal; a jump shows a layer writing a large update, and a few positions (often the first token) may grow far larger than the rest.",
  expertLoadChart:
    "How many tokens each expert of each mixture-of-experts layer received. Even bars are balanced routing; one tall bar is a dominant expert, an empty one a dead expert for this prompt.",
  expertRoutingChart:
    "The experts each token was routed to at each MoE layer, shaded by routing weight: follow a token across layers to see its path through the experts.",
  patchingChart:
    "Activation patching: each cell copies one activation from one run into the other and measures how much of the answer comes back (0 = unchanged, 1 = fully restored). Bright cells are where the information lives.",
  activationPatchingChart:
    "Activation patching: each cell copies one activation from one run into the other and measures how much of the answer comes back (0 = unchanged, 1 = fully restored). Bright cells are where the information lives.",
  headPositionChart:
    "Patching one head's output (hook_z) at one position at a time: bright cells are the heads and positions that carry the information the metric depends on.",
  causalTraceChart:
    "Causal tracing: the subject's embedding is corrupted with noise, then one layer's state at one position is restored from the clean run. Bright cells restore the answer: the states that carry the fact.",
  headScoresChart:
    "A score for every attention head (layer rows, head columns), e.g. how strongly it attends to the previous token or performs induction. Bright heads are candidates to ablate or inspect.",
  logitAttributionChart:
    "Direct logit attribution: how much each component writes, directly, into the chosen token's logit through the final norm and unembedding. Positive bars push the token up; they add up to its logit.",
  headAttributionChart:
    "Direct logit attribution per attention head: each head's direct contribution to the chosen token's logit. Large positive heads move the answer; negative ones suppress it.",
  parameterChart:
    "Where the model's weights are: parameters per component. In most models the MLPs hold the largest share; a tied unembedding costs nothing extra.",
  histogramChart:
    "A histogram computed on the device over every value (log-scaled counts). Compare the panels' spreads: long tails and outliers in the residual stream, or how sharply the logits single out a few tokens.",
  attentionDistanceChart:
    "Mean attention at each distance back from the query (0 = the query itself), one line per head of a layer. Lines that drop at once belong to local heads; flat or late mass belongs to heads that look far back.",
  headDistanceChart:
    "Each head placed by the distances that hold 50 % and 90 % of its attention. Bottom-left heads look only at the last few tokens; top-right heads look across the whole prompt.",
  pcaChart:
    "The token representations at one layer projected on their two main directions of variation. Tokens that cluster are represented alike; colour by section to see whether the model separates prompt, reasoning and response.",
  comparisonChart:
    "How far apart the residual streams of two prompts are at each layer and position. Positions before the prompts differ stay at zero; the spread of colour after the difference shows how the change propagates.",
  moeBalanceChart:
    "The auxiliary-loss proxy of each MoE layer (E · Σ fᵢ · Pᵢ, as in training's load-balancing loss) against its value for perfectly even routing (k). Above the line, routing concentrates on some experts.",
  generationReplayChart:
    "Each generated token with the probability the model gave it; below, the alternatives at the chosen step. Move the slider (interactive view) to replay the generation step by step; low bars are where it nearly went elsewhere.",
  attributionComparisonChart:
    "Exact activation patching (left) beside attribution patching, its first-order estimate from two gradient passes (right), per component. Where the two agree the cheap estimate can be trusted; large effects are usually underestimated, as the metric saturates.",
  tokenAttributionResultChart:
    "The prompt's tokens coloured by their attribution to the prediction: how much the output depends on each token (by gradients). Deep colours are the tokens the prediction leans on.",
  tokenAttributionChart:
    "The prompt's tokens coloured by their attribution to the prediction: how much the output depends on each token (by gradients). Deep colours are the tokens the prediction leans on.",
};

export function explainerOf(builder: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(EXPLAINERS, builder) ? EXPLAINERS[builder] : undefined;
}
