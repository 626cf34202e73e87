import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadModel } from "../../src/load";
import type { LanguageModel } from "../../src/model/model";
import { promptSections, withSections } from "../../src/probe/prompt-sections";
import { tokenProbabilities } from "../../src/probe/token-probs";
import { DEMO_DIR } from "../tensor/fixtures";
import { rows } from "./models";

// A chat template in the style of reasoning models: role headers, and an assistant turn that may hold <think>.
const TEMPLATE =
  "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

let chatModel: Promise<LanguageModel> | null = null;
function withTemplate(): Promise<LanguageModel> {
  chatModel ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lmprobe-chat-"));
    for (const f of fs.readdirSync(DEMO_DIR)) fs.copyFileSync(path.join(DEMO_DIR, f), path.join(dir, f));
    const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, chat_template: TEMPLATE }));
    return (await loadModel(dir, { backend: "wasm" })) as LanguageModel;
  })();
  return chatModel;
}

type Row = { position: number; input_token: string; section: string; message: number | null };

test("chat messages: system, user, reasoning and response sections follow the rendered template", async () => {
  const m = await withTemplate();
  const messages = [
    { role: "system", content: "Answer briefly." },
    { role: "user", content: "The capital of France is" },
    { role: "assistant", content: "<think>France has Paris</think> Paris." },
  ];
  const res = promptSections(m, messages);
  const table = rows<Row>(res.table);
  assert.equal(table.length, m.toTokens(m.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { prependBos: false }).length);
  const textOf = (section: string) => table.filter((r) => r.section === section).map((r) => r.input_token).join("");
  assert.match(textOf("system"), /Answer briefly\./);
  assert.match(textOf("system"), /<\|system\|>/, "a role header belongs to its message");
  assert.match(textOf("user"), /The capital of France is/);
  assert.doesNotMatch(textOf("user"), /Paris/);
  assert.match(textOf("reasoning"), /^<think>France has Paris<\/think>$/);
  assert.match(textOf("response"), / Paris\./);
  assert.match(textOf("response"), /<\|assistant\|>\n$/, "the generation prompt opens the response");
  // Sections come in conversation order and messages are indexed; the generation prompt is a new, empty turn.
  const order = rows<{ section: string; message: number | null }>(res.spans).map((s) => `${s.section}:${s.message}`);
  assert.deepEqual(order, ["system:0", "user:1", "response:2", "reasoning:2", "response:2", "response:null"]);
  assert.deepEqual([...new Set(table.filter((r) => r.section === "user").map((r) => r.message))], [1]);
});

test("plain text: prompt, reasoning between custom markers, then response; sections join any per-token table", async () => {
  const m = await withTemplate();
  const text = "3 plus 4 is [[think: add]] 7.";
  const res = promptSections(m, text, { thinkMarkers: ["[[think:", "]]"] });
  const table = rows<Row>(res.table);
  const textOf = (section: string) => table.filter((r) => r.section === section).map((r) => r.input_token).join("");
  assert.equal(textOf("prompt"), "3 plus 4 is ");
  assert.equal(textOf("reasoning"), "[[think: add]]");
  assert.equal(textOf("response"), " 7.");
  const probs = await tokenProbabilities(m, text);
  const joined = rows<{ position: number; section: string }>(withSections(probs.table, res.sections));
  joined.forEach((r) => assert.equal(r.section, res.sections[r.position]));
  assert.throws(() => withSections(probs.table, res.sections.slice(0, 2)), /sections/);
  assert.throws(() => promptSections(m, text, { thinkMarkers: ["", "x"] as [string, string] }), /thinkMarkers/);
});
