import { test } from "node:test";
import assert from "node:assert/strict";
import * as aq from "arquero";
import {
  attentionChart, entropyChart, expertLoadChart, expertRoutingChart, logitLensChart, patchingChart,
  residualNormChart, similarityChart, targetTrajectoryChart, tokenProbsChart, Chart,
} from "../../src/display";
import { DisplayError } from "../../src/errors";
import { INPUT_TOKENS, attentionTable, lensTable, similarityTable } from "./sample-tables";

type Rows = Record<string, unknown>[];
const values = (c: Chart) => (c.spec.data as { values: Rows }).values;
const svgTexts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test("logit lens grid: one cell per (layer, position) showing the rank-1 token, drawn in the SVG", () => {
  // Rows arrive shuffled: the chart must still pick rank 1, not the first row it meets.
  const chart = logitLensChart(lensTable().orderby(aq.desc("rank")), { inputTokens: INPUT_TOKENS });
  const cells = values(chart);
  assert.equal(cells.length, 3 * 5);
  const last = cells.find((c) => c.layer === 2 && c.position === 4)!;
  assert.equal(last.top_token, "·Paris");
  assert.equal(last.prob, 0.81);
  assert.match(String(last.alternatives), /·Rome 10\.0%/);
  const texts = svgTexts(chart.toSvg());
  assert.ok(texts.includes("·Paris"), "top token drawn in its cell");
  assert.ok(texts.includes("4: ·is"), "position labelled with its input token");
});

test("every chart names the missing column and lists the ones the table has", () => {
  const bad = aq.from([{ layer: 0, position: 0, prob: 0.5 }]);
  assert.throws(() => logitLensChart(bad), (err: unknown) => {
    assert.ok(err instanceof DisplayError);
    assert.match((err as Error).message, /lacks columns "token", "rank" \(it has "layer", "position", "prob"\)/);
    return true;
  });
  assert.throws(() => patchingChart(aq.from([{ layer: 0, position: 0, effect: 1 }])), /lacks column "metric"/);
  assert.throws(() => logitLensChart(aq.from([])), DisplayError);
});

test("target trajectory follows the target over layers; entropy keeps one value per cell", () => {
  const traj = targetTrajectoryChart(aq.from([0, 1, 2, 3].map((layer) => ({ layer, target: " Paris", prob: layer / 4, rank: 4 - layer }))), { metric: "rank" });
  assert.deepEqual(values(traj).map((r) => r.value), [4, 3, 2, 1]);
  assert.match(traj.toSvg(), /·Paris/);
  const entropy = entropyChart(lensTable(), { positions: [4] });
  assert.equal(values(entropy).length, 3, "3 layers, one entropy each, although each cell has 3 rows");
});

test("similarity, residual norm, patching: values carried unchanged and drawn", () => {
  const sim = similarityChart(similarityTable());
  assert.equal(values(sim).length, 16);
  assert.equal(values(sim).find((r) => r.a === 0 && r.b === 3)!.similarity, 1 - 3 * 0.3);
  const norms = residualNormChart(aq.from([{ layer: 0, norm: 2 }, { layer: 1, norm: 5 }]));
  assert.deepEqual(values(norms).map((r) => r.norm), [2, 5]);
  const patch = patchingChart(aq.from([{ layer: 0, position: 1, metric: -0.5 }, { layer: 1, position: 1, metric: 1 }]), { inputTokens: ["a", " b"] });
  assert.ok(svgTexts(patch.toSvg()).includes("1: ·b"));
  assert.deepEqual((patch.spec.layer as Array<{ encoding: { color: { scale: { domain: number[] } } } }>)[0].encoding.color.scale.domain, [-1, 1]);
});

test("attention: one layer chosen, one facet per head, a head selector", () => {
  const chart = attentionChart(attentionTable(), { inputTokens: INPUT_TOKENS });
  const rows = values(chart);
  assert.equal(new Set(rows.map((r) => r.head)).size, 2);
  assert.equal(rows.length, 2 * 15);
  const params = chart.spec.params as Array<{ bind: { options: number[] } }>;
  assert.deepEqual(params[0].bind.options, [-1, 0, 1]);
  const svg = chart.toSvg();
  assert.ok(svgTexts(svg).includes("3: ·France"));
  assert.throws(() => attentionChart(attentionTable(), { layer: 7 }), /layer 7 is not in the table \(it has layers 1\)/);
});

test("token probabilities and MoE charts aggregate what they should", () => {
  const tp = tokenProbsChart(lensTable().filter((r: { layer: number }) => r.layer === 2));
  assert.equal(values(tp).length, 15);
  const load = expertLoadChart(aq.from([{ layer: 0, position: 0, expert: 1, count: 1 }, { layer: 0, position: 1, expert: 1, count: 1 }, { layer: 0, position: 1, expert: 0, count: 1 }]));
  assert.deepEqual(values(load).map((r) => [r.expert, r.load]).sort(), [[0, 1], [1, 2]]);
  const routing = expertRoutingChart(aq.from([{ layer: 0, position: 0, expert: 3, weight: 0.3 }, { layer: 0, position: 0, expert: 1, weight: 0.7 }]));
  assert.equal(values(routing)[0].experts, "E1 E3");
  assert.ok(svgTexts(routing.toSvg()).includes("E1 E3"));
});

test("markup in token text reaches the SVG as text, never as elements", () => {
  const hostile = aq.from([{ layer: 0, position: 0, token: "<script>alert(1)</script>", rank: 1, prob: 0.9 }, { layer: 0, position: 1, token: "{{7*7}}", rank: 1, prob: 0.2 }]);
  const svg = logitLensChart(hostile, { inputTokens: ["</text><b>x</b>", "&amp;"] }).toSvg();
  assert.doesNotMatch(svg, /<script|<b>/);
  assert.match(svg, /&lt;script&gt;alert/);
  assert.match(svg, /&amp;amp;/);
});
