// The run-overview charts, drawn from the real analyses of the demo model (and the tiny Mixtral).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  attentionDistanceChart, comparisonChart, generationReplayChart, headDistanceChart, histogramChart, moeBalanceChart, parameterChart, pcaChart,
} from "../../src/display";
import { attentionDistance } from "../../src/probe/attention-distance";
import { compareRuns } from "../../src/probe/run-comparison";
import { embeddingPca } from "../../src/probe/embedding-pca";
import { logitDistribution } from "../../src/probe/logit-distribution";
import { modelOverview } from "../../src/probe/model-overview";
import { moeRouting } from "../../src/probe/moe";
import { moeInsights } from "../../src/probe/moe-insights";
import { promptSections, withSections } from "../../src/probe/prompt-sections";
import { generationProbabilities } from "../../src/probe/token-probs";
import { model } from "../probe/models";
import { tokenLabel } from "../../src/display/charts/common";

const svgTexts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test("overview, histogram, distance, PCA and comparison charts draw their data", async () => {
  const m = await model("demo");
  const prompt = "tiger lamp river cloud. tiger lamp river cloud.";
  const params = parameterChart(modelOverview(m).parameters);
  assert.ok(svgTexts(params.toSvg()).includes("mlp"));

  const dist = await logitDistribution(m, "The capital of France is", { bins: 12 });
  const hist = histogramChart(dist.histogram, { facet: "kind" });
  const svg = hist.toSvg();
  assert.ok(svgTexts(svg).includes("logit") && svgTexts(svg).includes("logprob"), "one panel per kind");

  const ad = await attentionDistance(m, prompt);
  const lines = attentionDistanceChart(ad.profile, { layer: 1, maxDistance: 6 });
  assert.deepEqual([...new Set((lines.spec.data as { values: { distance: number }[] }).values.map((v) => v.distance))], [0, 1, 2, 3, 4, 5, 6]);
  assert.equal((headDistanceChart(ad.heads).spec.data as { values: unknown[] }).values.length, 4 * 8);

  const sections = promptSections(m, prompt);
  const pca = await embeddingPca(m, prompt);
  const scatter = pcaChart(withSections(pca.scores, sections.sections), { color: "section" });
  assert.ok(svgTexts(scatter.toSvg()).some((t) => t.includes("tiger")), "points labelled with their tokens");

  const cmp = await compareRuns(m, "The capital of France is", "The capital of Japan is");
  const heat = comparisonChart(cmp.table);
  assert.equal((heat.spec.data as { values: unknown[] }).values.length, 5 * 5);
  assert.ok(svgTexts(heat.toSvg()).some((t) => t.startsWith("3: ·France / ·Jap")), "a differing position names both tokens");
});

test("generation replay: a slider parameter filters the alternatives; the static form shows every step", async () => {
  const m = await model("demo");
  const gen = await generationProbabilities(m, "The capital of France is", { maxNewTokens: 4, k: 3 });
  const chart = generationReplayChart(gen);
  const spec = chart.spec as { params: { name: string; bind: { input: string; max: number } }[]; vconcat: { transform?: { filter: string }[] }[] };
  assert.equal(spec.params[0].bind.input, "range");
  assert.equal(spec.params[0].bind.max, 4);
  assert.equal(spec.vconcat[1].transform![0].filter, "datum.step == step");
  const texts = svgTexts(chart.toSvg());
  const generated = m.toStrTokens(gen.newTokens);
  for (const t of generated.map(tokenLabel)) assert.ok(texts.includes(t), `the timeline shows ${JSON.stringify(t)}`);
  assert.throws(() => generationReplayChart({ table: gen.table.filter("d => !d.generated"), alternatives: gen.alternatives }), /no generated tokens/);
});

test("mixtral: the balance chart draws the proxy against k", async () => {
  const m = await model("mixtral");
  const insights = moeInsights(await moeRouting(m, "hello world, hello"));
  const chart = moeBalanceChart(insights.balance);
  const values = (chart.spec.data as { values: { series: string }[] }).values;
  assert.equal(values.filter((v) => v.series.startsWith("even")).length, m.config.numLayers);
  assert.ok(chart.toSvg().includes("<path"), "lines drawn");
});
