// The verdict on one workshop answer, shown in the notebook as a coloured box (HTML) or a line (text).
import { escapeHtml } from "../display/escape";
import type { MimeBundle } from "../display/notebook";

/** A workshop verdict: right, close, wrong or unanswered. */
export type Verdict = "right" | "close" | "wrong" | "unanswered";

/** The verdict on one workshop answer, shown as a coloured box. */
export class CheckResult {
  constructor(
    readonly exercise: string,
    readonly verdict: Verdict,
    /** Why, in a sentence: what was expected, or what the answer missed. */
    readonly message: string,
    /** The model's own value (shown once the answer is right, close or wrong; never before). */
    readonly expected?: unknown,
  ) {}

  get passed(): boolean {
    return this.verdict === "right";
  }

  toString(): string {
    const mark = { right: "✔ right", close: "≈ close", wrong: "✘ wrong", unanswered: "… not answered yet" }[this.verdict];
    return `${this.exercise}: ${mark}. ${this.message}`;
  }

  toMimeBundle(): MimeBundle {
    const colour = { right: "#e6f4ea", close: "#fff4e5", wrong: "#fde8e8", unanswered: "#eef2f7" }[this.verdict];
    const border = { right: "#34a853", close: "#f9ab00", wrong: "#d93025", unanswered: "#8a9bb0" }[this.verdict];
    const html = `<div class="lmprobe-check" style="background:${colour};border-left:4px solid ${border};padding:6px 10px;font-family:sans-serif">${escapeHtml(this.toString())}</div>`;
    return { "text/html": html, "text/plain": this.toString() };
  }
}
