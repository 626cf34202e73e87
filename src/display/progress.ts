// Progress of long work (downloads, probes over many positions, patching grids): in a notebook one display that
// is updated in place (update_display_data on one display id); in a terminal a bar redrawn on one line.
import { ArgumentError } from "../errors";
import { escapeHtml } from "./escape";
import { inNotebook, newDisplayId, sendDisplay } from "./notebook";

/** Options of progress(): label, unit, output stream, redraw interval. */
export interface ProgressOptions {
  /** Shown before the bar, e.g. "patching". */
  label?: string;
  /** Unit for the counts, e.g. "MB" (default none). */
  unit?: string;
  /** Where a terminal bar goes (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Minimum milliseconds between redraws (default 100); the first and last states are always drawn. */
  throttleMs?: number;
}

/** A progress bar: tick, update, finish. */
export interface Progress {
  /** Advances by `n` (default 1). */
  tick(n?: number): void;
  /** Sets the amount done. */
  update(done: number): void;
  /** Marks the work finished (draws the final state once). */
  finish(): void;
  readonly done: number;
  readonly total: number;
}

function fraction(done: number, total: number): number {
  return total > 0 ? Math.min(1, done / total) : 1;
}

function countText(done: number, total: number, unit: string | undefined): string {
  const u = unit ? ` ${unit}` : "";
  return `${Math.round(done)}/${Math.round(total)}${u}`;
}

/** The HTML of the notebook progress display. */
export function progressHtml(label: string, done: number, total: number, unit?: string): string {
  const pct = (fraction(done, total) * 100).toFixed(0);
  return (
    `<div class="lmprobe-progress" style="font:12px sans-serif;display:flex;gap:8px;align-items:center">` +
    `<span>${escapeHtml(label)}</span>` +
    `<progress value="${escapeHtml(done)}" max="${escapeHtml(total)}" style="width:240px"></progress>` +
    `<span>${pct}% (${escapeHtml(countText(done, total, unit))})</span></div>`
  );
}

/** The terminal bar line, e.g. "patching [#########-----------]  45% 9/20". */
export function progressLine(label: string, done: number, total: number, unit?: string, width = 24): string {
  const f = fraction(done, total);
  const filled = Math.round(f * width);
  return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${countText(done, total, unit)}`;
}

/** Starts a progress display for `total` units of work. */
export function progress(total: number, options: ProgressOptions = {}): Progress {
  if (!Number.isFinite(total) || total < 0) throw new ArgumentError("total", `must be a finite number ≥ 0, got ${total}`);
  const label = options.label ?? "working";
  const throttle = options.throttleMs ?? 100;
  const stream = options.stream ?? process.stderr;
  const notebook = inNotebook();
  const displayId = newDisplayId();
  let done = 0;
  let drawn = false;
  let lastDraw = 0;
  let finished = false;

  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && drawn && now - lastDraw < throttle) return;
    lastDraw = now;
    if (notebook) {
      const html = progressHtml(label, done, total, options.unit);
      sendDisplay({ "text/html": html, "text/plain": progressLine(label, done, total, options.unit) }, { displayId, update: drawn });
    } else if (stream.isTTY) {
      stream.write(`\r${progressLine(label, done, total, options.unit)}${finished ? "\n" : ""}`);
    } else if (!drawn || finished) {
      // Logs are no place for a redrawn bar: write the start and the end only.
      stream.write(`${progressLine(label, done, total, options.unit)}\n`);
    }
    drawn = true;
  };

  draw(true);
  return {
    tick(n = 1) {
      this.update(done + n);
    },
    update(value: number) {
      if (finished) return;
      done = Math.max(0, Math.min(total, value));
      draw(false);
    },
    finish() {
      if (finished) return;
      done = total;
      finished = true;
      draw(true);
    },
    get done() {
      return done;
    },
    get total() {
      return total;
    },
  };
}
