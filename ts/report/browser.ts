// Opens report.html in headless Chromium (Debian's `chromium` package, driven by playwright-core)
// and reports what a reader's browser sees: console errors, decoded images, the tables' models,
// the charts' marks; saves a full-page screenshot. Used by the browser test and for looking at a
// demo report.
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.ROBUSTSEG_CHROMIUM ?? "/usr/bin/chromium";

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export interface BrowserCheck {
  consoleErrors: string[];
  images: { alt: string; complete: boolean; naturalWidth: number; naturalHeight: number }[];
  /** Model names in the first cell of each metrics-table row, per table. */
  tableModels: string[][];
  charts: { id: string; marks: number; width: number }[];
  title: string;
}

export async function checkReportInBrowser(htmlPath: string, screenshotPath?: string): Promise<BrowserCheck> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() === "error") consoleErrors.push(msg.text());
    });
    page.on("pageerror", (err) => consoleErrors.push(String(err)));
    page.on("requestfailed", (req) => consoleErrors.push(`request failed: ${req.url()}`));
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: "load" });
    // Every image decoded (data: URIs decode asynchronously).
    await page.evaluate(() => Promise.all([...document.images].map((img) => img.decode().catch(() => undefined))));
    const result = await page.evaluate(() => ({
      images: [...document.images].map((img) => ({ alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight })),
      tableModels: [...document.querySelectorAll("table.metrics")].map((t) => [...t.querySelectorAll("tr[data-model]")].map((tr) => tr.querySelector("td")?.textContent ?? "")),
      charts: [...document.querySelectorAll("figure.chart")].map((f) => {
        const svg = f.querySelector("svg");
        return { id: f.id, marks: svg ? svg.querySelectorAll("path, line, rect, circle, symbol").length : 0, width: svg ? svg.getBoundingClientRect().width : 0 };
      }),
      title: document.title,
    }));
    if (screenshotPath) await page.screenshot({ path: screenshotPath, fullPage: true });
    return { consoleErrors, ...result };
  } finally {
    await browser.close();
  }
}
