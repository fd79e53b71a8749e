// Test support: opens a report.html in Debian's Chromium (driven by playwright-core) with a fresh profile, and
// records every console message, page error and request, aborting any request other than the page itself.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { REPO_ROOT } from "../../harness/repo-root.js";

/** The system browser scripts/setup.mjs --tests installs. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags that keep Chromium from reaching the network on its own (updates, sync, probes). */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface OpenedReport {
  page: Page;
  url: string;
  /** Console messages of type error/warning, and uncaught page errors. */
  problems: string[];
  /** Every request the page made (the document itself included). */
  requests: string[];
  /** Requests that were aborted because they were not the document. */
  blocked: string[];
  close(): Promise<void>;
}

/** Where screenshots go: .tap/ (git-ignored) under the checkout. */
export function screenshotPath(name: string): string {
  const dir = path.join(REPO_ROOT, ".tap", "report-screenshots");
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/** Opens file:// htmlFile in a fresh headless Chromium and waits for the page's first render (body[data-ready]). */
export async function openReport(htmlFile: string): Promise<OpenedReport> {
  const profile = mkdtempSync(path.join(tmpdir(), "kh-chromium-"));
  let ctx: BrowserContext | undefined;
  try {
    ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const url = pathToFileURL(htmlFile).href;
    const problems: string[] = [];
    const requests: string[] = [];
    const blocked: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    page.on("request", (r) => requests.push(r.url()));
    await ctx.route("**/*", (route) => {
      if (route.request().url() === url) return route.continue();
      blocked.push(route.request().url());
      return route.abort();
    });
    await page.goto(url);
    await page.waitForSelector("body[data-ready]", { timeout: 60_000 });
    const opened = ctx;
    return {
      page,
      url,
      problems,
      requests,
      blocked,
      close: async () => {
        await opened.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await ctx?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}
