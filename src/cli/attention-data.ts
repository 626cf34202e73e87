// The attention section's data for the report: every head's pattern as dense arrays (the raster charts draw from
// them) and the per-head summary, without the long pattern table (L×H×T² rows: 19 million on GPT-2 small at
// T = 512, which the report never needs).
import { attentionFromCache, patternHook, patternOf, resolveLayers } from "../probe/attention";
import { tokenTextLookup } from "../probe/token-texts";
import type { Table } from "../probe/table";
import type { ProbeInput, ProbeModel } from "../probe/types";
import type { AttentionStack } from "../display/charts/attention-stack";

export async function attentionData(model: ProbeModel, input: ProbeInput): Promise<{ stack: AttentionStack; summary: Table }> {
  const layers = resolveLayers(undefined, model.config.numLayers);
  const names = new Set(layers.map(patternHook));
  const run = model.run(input, { cache: (n) => names.has(n), lastPositionOnly: true });
  try {
    const text = tokenTextLookup(model, run.tokens[0]);
    const tokens = run.tokens[0].map(text);
    const { summary } = await attentionFromCache(run.cache, layers, tokens, { heads: [] });
    const patterns: Float32Array[] = [];
    let shape: number[] = [0, 0, 0];
    for (const layer of layers) {
      const p = patternOf(run.cache, layer);
      try {
        shape = p.shape;
        patterns.push((await p.data()) as Float32Array);
      } finally {
        p.dispose();
      }
    }
    const [heads, queries, keys] = shape;
    return { stack: { layers, heads, queries, keys, patterns, tokens }, summary };
  } finally {
    run.dispose();
  }
}
