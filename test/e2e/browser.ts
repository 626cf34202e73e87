// Headless Chromium through playwright-core: one browser per test file, pages with and without JavaScript, and the
// chart checks a person would make by looking.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS } from "./harness";

export interface Browser {
  open(file: string, options: { javaScript: boolean }): Promise<OpenedPage>;
  close(): Promise<void>;
}

export interface OpenedPage {
  page: Page;
  consoleErrors: string[];
  dialogs: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const contexts: BrowserContext[] = [];
  const context = async (javaScript: boolean) => {
    const ctx = await chromium.launchPersistentContext(mkdtempSync(path.join(os.tmpdir(), "lmprobe-chromium-")), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      javaScriptEnabled: javaScript,
      viewport: { width: 1200, height: 900 },
      offline: true,
    });
    contexts.push(ctx);
    return ctx;
  };
  const withJs = await context(true);
  const withoutJs = await context(false);
  return {
    async open(file, { javaScript }) {
      const page = await (javaScript ? withJs : withoutJs).newPage();
      const consoleErrors: string[] = [];
      const dialogs: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
      page.on("dialog", async (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        await d.dismiss();
      });
      await page.goto(`file://${file}`, { waitUntil: "load" });
      return { page, consoleErrors, dialogs, close: () => page.close() };
    },
    async close() {
      for (const c of contexts) await c.close();
    },
  };
}

export interface ChartState {
  id: string;
  drawn: string | null;
  /** Marks (vega's role-mark groups' children) in the live, interactive view. */
  liveMarks: number;
  /** Marks in the static SVG. */
  staticMarks: number;
  staticVisible: boolean;
  text: string;
}

// Browser-side code is passed as source text: functions compiled by tsx carry helper calls (__name) that do not
// exist in the page.
const CHART_STATES_JS = `[...document.querySelectorAll(".lmprobe-chart")].map(function (h) {
  var live = h.querySelector(".lmprobe-live");
  var stat = h.querySelector(".lmprobe-static");
  function marks(root) { return root ? root.querySelectorAll("g.role-mark > *, canvas").length : 0; }
  return {
    id: h.id,
    drawn: h.getAttribute("data-lmprobe-drawn"),
    liveMarks: marks(live),
    staticMarks: marks(stat),
    staticVisible: !!stat && stat.offsetWidth > 0 && stat.offsetHeight > 0 && !!stat.querySelector("svg"),
    text: (h.textContent || "").replace(/\\s+/g, " ")
  };
})`;

/** The state of every lmprobe chart on the page. */
export async function chartStates(page: Page): Promise<ChartState[]> {
  return (await page.evaluate(CHART_STATES_JS)) as ChartState[];
}

const ALL_SETTLED_JS = `[...document.querySelectorAll(".lmprobe-chart")].every(function (h) {
  var s = h.getAttribute("data-lmprobe-drawn");
  return s === "interactive" || s === "static";
})`;

/** Waits until every chart has left the "pending" state (drawn interactively or fallen back). */
export async function waitForCharts(page: Page, timeoutMs = 20_000): Promise<void> {
  await page.waitForFunction(ALL_SETTLED_JS, undefined, { timeout: timeoutMs });
}
