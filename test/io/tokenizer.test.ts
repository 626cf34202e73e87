import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ArgumentError, MissingFileError } from "../../src/errors";
import { SafetensorsFile } from "../../src/io/safetensors";
import { loadTokenizer } from "../../src/io/tokenizer";
import { copyCheckpoint, DEMO, DEMO_REFERENCE, tinyFixtures } from "./helpers";

const cases = [...tinyFixtures().map((dir) => ({ dir, ref: dir })), { dir: DEMO, ref: DEMO_REFERENCE }];

for (const { dir, ref } of cases) {
  test(`${path.basename(dir)}: ids and tokens match the reference tokenizer`, () => {
    const reference = JSON.parse(fs.readFileSync(path.join(ref, "reference.json"), "utf8"));
    const st = SafetensorsFile.open(path.join(ref, "reference.safetensors"));
    const inputIds = st.readIntegers("input_ids");
    const generated = st.readIntegers("generated_ids");
    st.close();
    const tok = loadTokenizer(dir);
    const ids = tok.encode(reference.text);
    assert.deepEqual(ids, inputIds);
    assert.deepEqual(tok.idsToTokens(ids), reference.tokens);
    for (const layer of reference.lens_last_top5) assert.deepEqual(tok.idsToTokens(layer.ids), layer.tokens);
    assert.equal(tok.decode(ids), reference.text);
    assert.equal(tok.decode(generated), reference.text + reference.generated_text);
    // readable texts: each is the token decoded alone, and together they spell the prompt
    const texts = tok.tokenTexts(ids);
    assert.equal(texts.join(""), reference.text);
    texts.forEach((t, i) => assert.equal(t, tok.decode([ids[i]])));
    assert.ok(texts.slice(1).every((t, i) => !tok.idsToTokens([ids[i + 1]])[0].startsWith("\u0120") || t.startsWith(" ")));
    assert.equal(tok.vocabSize, reference.vocab_size);
    ids.forEach((id, i) => assert.equal(tok.tokenToId(reference.tokens[i]), id));
  });
}

test("demo: ' Paris' reads as text, 'ĠParis' as the vocabulary string; BOS/EOS come from the configs", () => {
  const tok = loadTokenizer(DEMO, { eosTokenIds: [0], bosTokenId: 0 });
  const [paris] = tok.encode(" Paris");
  assert.equal(tok.encode(" Paris").length, 1);
  assert.deepEqual(tok.tokenTexts([paris]), [" Paris"]);
  assert.deepEqual(tok.idsToTokens([paris]), ["\u0120Paris"]);
  assert.equal(tok.bosTokenId, 0);
  assert.deepEqual(tok.eosTokenIds, [0]);
  assert.equal(tok.padTokenId, null);
  assert.equal(tok.idsToTokens([0])[0], "<|endoftext|>");
  assert.equal(tok.decode([0, paris], { skipSpecialTokens: true }), " Paris");
});

test("out-of-range ids are ArgumentErrors naming the position", () => {
  const tok = loadTokenizer(DEMO);
  assert.throws(() => tok.idsToTokens([1, tok.vocabSize]), (e: unknown) => e instanceof ArgumentError && /ids\[1\]/.test((e as Error).message));
  assert.throws(() => tok.decode([-1]), ArgumentError);
  assert.throws(() => tok.tokenTexts([1.5]), ArgumentError);
  assert.equal(tok.decode([]), "");
});

const TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }];
const rendered = "<|system|>Be brief.<|endoftext|><|user|>Capital of France?<|endoftext|>";

test("chat template from tokenizer_config.json, with and without the generation prompt", () => {
  const dir = copyCheckpoint(DEMO);
  const configPath = path.join(dir, "tokenizer_config.json");
  fs.writeFileSync(configPath, JSON.stringify({ ...JSON.parse(fs.readFileSync(configPath, "utf8")), chat_template: TEMPLATE }));
  const tok = loadTokenizer(dir);
  assert.ok(tok.hasChatTemplate);
  assert.equal(tok.applyChatTemplate(messages), rendered);
  assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), `${rendered}<|assistant|>`);
});

test("chat template from chat_template.jinja when tokenizer_config.json has none", () => {
  const dir = copyCheckpoint(DEMO);
  fs.writeFileSync(path.join(dir, "chat_template.jinja"), TEMPLATE);
  const tok = loadTokenizer(dir);
  assert.ok(tok.hasChatTemplate);
  assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), `${rendered}<|assistant|>`);
});

test("no chat template: hasChatTemplate is false and applyChatTemplate says what to do", () => {
  const tok = loadTokenizer(DEMO);
  assert.equal(tok.hasChatTemplate, false);
  assert.throws(() => tok.applyChatTemplate(messages), (e: unknown) => e instanceof MissingFileError && /base model/.test((e as Error).message));
});

test("a missing tokenizer.json is a MissingFileError naming the path", () => {
  const dir = copyCheckpoint(DEMO, (n) => n === "tokenizer.json");
  assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof MissingFileError && (e as MissingFileError).file === path.join(dir, "tokenizer.json"));
});
