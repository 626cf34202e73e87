// Sending display messages to Jupyter through tslab. tslab's public `display.raw` sends one MIME type per message;
// a chart must be ONE message holding four (two messages would draw it twice), so this uses the writer tslab keeps
// for the running cell (`lastWriteDisplayData` in tslab/dist/jupyter.js). That writer belongs to the tslab
// instance that runs the kernel, so it is looked up among the modules already loaded rather than required: the
// kernel's tslab may be another copy than the one lmprobe would resolve, and outside a kernel tslab (and its
// TypeScript) is never loaded at all.
import { randomBytes } from "node:crypto";

export type MimeBundle = Record<string, unknown>;

export interface DisplayMessage {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}

type WriteDisplayData = (message: DisplayMessage, update: boolean) => void;

const TSLAB_JUPYTER = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;

/** The active cell's display writer of the running tslab kernel, or undefined outside a notebook. */
export function findDisplayWriter(): WriteDisplayData | undefined {
  for (const [id, mod] of Object.entries(require.cache)) {
    if (!TSLAB_JUPYTER.test(id)) continue;
    const writer = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)?.lastWriteDisplayData;
    if (typeof writer === "function") return writer as WriteDisplayData;
  }
  return undefined;
}

/** True when running inside a tslab kernel that is executing a cell. */
export function inNotebook(): boolean {
  return findDisplayWriter() !== undefined;
}

export function newDisplayId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Sends one display_data message carrying every MIME type of `data`. With `displayId`, the output can later be
 * replaced in place by calling again with `update` true (update_display_data). Returns false outside a notebook.
 */
export function sendDisplay(data: MimeBundle, options: { displayId?: string; update?: boolean } = {}): boolean {
  const write = findDisplayWriter();
  if (!write) return false;
  write({ data, metadata: {}, transient: options.displayId ? { display_id: options.displayId } : {} }, options.update === true);
  return true;
}
