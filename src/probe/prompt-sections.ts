// Which part of a conversation each token belongs to: system, user, reasoning or response (a plain-text prompt:
// prompt, reasoning, response). Chat messages are rendered with the checkpoint's own chat template, exactly as
// model.run renders them, and each message's text is found in the rendered sequence; the template's markup before
// a message (its role header) belongs to that message, and the generation prompt at the end to the response.
// Text between reasoning markers (<think> … </think> by default, or the markers given) is "reasoning".
//
// Tokens are placed by decoding growing prefixes of the ids, so special tokens and byte-level pieces land where
// the tokenizer put them (a partial UTF-8 character at a prefix's end is not counted until it completes).
import * as aq from "arquero";
import { ArgumentError } from "../errors";
import type { ChatMessage } from "../io/tokenizer-types";
import { isChat, tokenize } from "../model/inputs";
import { ColumnBuilder, type Table } from "./table";
import type { ProbeModel } from "./types";

/** A prompt section: system, user, reasoning, response, prompt, or another chat role. */
export type Section = "system" | "user" | "reasoning" | "response" | "prompt" | string;

/** The reasoning markers promptSections() looks for. */
export interface PromptSectionsOptions {
  /** Reasoning markers (default ["<think>", "</think>"]); the markers themselves count as reasoning. */
  thinkMarkers?: [string, string];
}

/** promptSections()'s per-token table, per-position sections and contiguous spans. */
export interface PromptSectionsResult {
  /** position, token_id, input_token, section, message (index of the chat message, null for a plain prompt). */
  table: Table;
  /** The section of each position, for withSections() and the probes' `sections` options. */
  sections: Section[];
  /** section, message, first_position, last_position, tokens: contiguous runs. */
  spans: Table;
  tokens: number[];
}

function roleSection(role: string): Section {
  if (role === "assistant") return "response";
  return role;
}

/** Per character of `text`: its section and message index. */
function characterSections(text: string, messages: ChatMessage[] | null, markers: [string, string]): { section: Section[]; message: (number | null)[] } {
  const section: Section[] = new Array(text.length).fill(messages ? "response" : "prompt");
  const message: (number | null)[] = new Array(text.length).fill(null);
  if (messages) {
    let cursor = 0;
    messages.forEach((m, i) => {
      const content = String(m.content ?? "");
      if (content.length === 0) return;
      const at = text.indexOf(content, cursor);
      if (at < 0) return; // the template rewrote this message (e.g. dropped an earlier turn's reasoning)
      for (let c = cursor; c < at + content.length; c++) {
        section[c] = roleSection(m.role);
        message[c] = i;
      }
      cursor = at + content.length;
    });
    // After the last message: the generation prompt, which opens the response.
    for (let c = cursor; c < text.length; c++) section[c] = "response";
  }
  let from = 0;
  for (;;) {
    const open = text.indexOf(markers[0], from);
    if (open < 0) break;
    const closeAt = text.indexOf(markers[1], open + markers[0].length);
    const end = closeAt < 0 ? text.length : closeAt + markers[1].length;
    for (let c = open; c < end; c++) section[c] = "reasoning";
    if (!messages) for (let c = end; c < text.length; c++) section[c] = "response";
    from = end;
  }
  return { section, message };
}

/** Splits a prompt or chat into system, user, reasoning and response sections, token by token, with the checkpoint's chat template. */
export function promptSections(model: ProbeModel, input: string | ChatMessage[], options: PromptSectionsOptions = {}): PromptSectionsResult {
  const markers = options.thinkMarkers ?? ["<think>", "</think>"];
  if (!Array.isArray(markers) || markers.length !== 2 || !markers.every((m) => typeof m === "string" && m.length > 0)) {
    throw new ArgumentError("thinkMarkers", `is ${JSON.stringify(markers)}`, 'pass two non-empty strings, e.g. ["<think>", "</think>"]');
  }
  const messages = isChat(input) ? (input as ChatMessage[]) : null;
  if (!messages && typeof input !== "string") throw new ArgumentError("input", "is neither text nor chat messages", 'pass a string or [{ role: "user", content }]');
  const tokens = tokenize(model.tokenizerContext(), messages ?? (input as string))[0];
  const tok = model.tokenizer;
  const full = tok.decode(tokens);
  const chars = characterSections(full, messages, markers);
  const table = new ColumnBuilder(["position", "token_id", "input_token", "section", "message"] as const);
  const texts = model.toStrTokens(tokens);
  const sections: Section[] = [];
  let start = 0;
  for (let i = 0; i < tokens.length; i++) {
    const prefix = tok.decode(tokens.slice(0, i + 1)).replace(/\uFFFD+$/, "");
    const at = Math.min(start, Math.max(full.length - 1, 0));
    const section = chars.section[at] ?? (messages ? "response" : "prompt");
    sections.push(section);
    table.push({ position: i, token_id: tokens[i], input_token: texts[i], section, message: chars.message[at] ?? null });
    start = Math.max(start, prefix.length);
  }
  const spans = new ColumnBuilder(["section", "message", "first_position", "last_position", "tokens"] as const);
  const rows = table.table().objects() as { position: number; section: string; message: number | null }[];
  let first = 0;
  for (let i = 1; i <= rows.length; i++) {
    if (i === rows.length || rows[i].section !== rows[first].section || rows[i].message !== rows[first].message) {
      spans.push({ section: rows[first].section, message: rows[first].message, first_position: first, last_position: i - 1, tokens: i - first });
      first = i;
    }
  }
  return { table: table.table(), sections, spans: spans.table(), tokens };
}

/** `table` with a `section` column added from its `position` column (any per-token probe table). */
export function withSections(table: Table, sections: readonly Section[]): Table {
  if (!table.columnNames().includes("position")) throw new ArgumentError("table", "has no position column", "pass a per-token table (logit lens, token probabilities, …)");
  const positions = table.array("position") as ArrayLike<number>;
  const column = Array.from(positions, (p) => {
    if (!Number.isInteger(p) || p < 0 || p >= sections.length) throw new ArgumentError("sections", `has no entry for position ${p}`, "pass the sections of the same prompt");
    return sections[p];
  });
  return table.assign(aq.table({ section: column }));
}
