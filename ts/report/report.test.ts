import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FIXTURE_CLASSES, writeFixtureRunFolder } from "../../test/fixtures/report-run-folder.js";
import { esc, readReportInputs, renderReportHtml, sweepRows, writeReport } from "./report.js";

const dir = mkdtempSync(join(tmpdir(), "robustseg-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the report from a hand-made run folder", () => {
  const runDir = join(dir, "run");
  writeFixtureRunFolder(runDir);

  it("writes one self-contained report.html: tables with the four models, escaped text, data: URIs, SVG charts", async () => {
    const written = await writeReport(runDir);
    expect(written.charts).toEqual(["validation-loss", "method-two-choices", "foreground-accuracy", "epsilon-sweep", "selection-comparison"]);
    const html = readFileSync(written.html, "utf8");
    // The four models in Tables 1, 2a and 2b.
    for (const m of ["M1", "M2", "M3", "M4"]) expect(html.match(new RegExp(`<tr data-model="${m}">`, "g"))).toHaveLength(3);
    expect(html).toContain("Table 1: clean test set");
    expect(html).toContain("Table 2a: under attack, white-box");
    expect(html).toContain("Table 2b: under attack, transfer");
    // Escaped: the class name with markup, the run name, the figure caption and title.
    expect(html).not.toContain("neoplastic <b>");
    expect(html).toContain(esc(FIXTURE_CLASSES[1]));
    expect(html).toContain("fixture &lt;run&gt; &amp; &quot;co&quot;");
    expect(html).toContain("caption with &lt;tags&gt; &amp; ampersands");
    expect(html).not.toContain("<PGD>");
    // Figures inlined as PNG data URIs, with the legend and the target caption.
    expect(html.match(/<img src="data:image\/png;base64,iVBORw0KGgo/g)).toHaveLength(4);
    expect(html).toContain("target: background");
    expect(html).toMatch(/class="swatch" style="background:#cc6677"/);
    // Charts as inline SVG with marks; nothing external.
    expect(html.match(/<svg[^>]*class="marks"/g)?.length).toBe(5);
    expect(html).toMatch(/id="chart-validation-loss"><h3>[^<]*<\/h3><svg/);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    // Markdown: tables and links to the PNGs.
    const md = readFileSync(written.markdown, "utf8");
    expect(md).toMatch(/^\| M4 \| clean \+ D1 \+ D2 \| 0\.8700 \|/m);
    expect(md).toContain("(figures/fig2-0-target.png)");
    expect(md).toContain("neoplastic <b>&amp;</b>"); // Markdown keeps the name; only `|` is escaped
  });

  it("handles a run without sweeps, figures or a selection comparison", async () => {
    const inputs = await readReportInputs(runDir);
    inputs.results.sweeps = [];
    const html = await renderReportHtml({ ...inputs, figures: undefined, selectionComparison: undefined });
    expect(html).toContain("No ε-sweeps in this run");
    expect(html).toContain("figures.json is missing");
    expect(html.match(/<svg[^>]*class="marks"/g)?.length).toBe(3);
  });

  it("reads sweep points flat or under metrics, and ignores malformed ones", () => {
    const { rows } = sweepRows([{ name: "s", points: [{ epsilon: 0.01, pixelAccuracy: 0.5 }, { foo: 1 }] }, "junk", { model: "M2", curve: [{ epsilon: 0, metrics: { meanIoU: 0.3 } }] }]);
    expect(rows).toEqual([
      { series: "s", epsilon: 0.01, metric: "pixel accuracy", value: 0.5 },
      { series: "M2", epsilon: 0, metric: "mIoU", value: 0.3 },
    ]);
    expect(sweepRows(undefined).rows).toEqual([]);
  });

  it("refuses a folder without results.json", async () => {
    await expect(writeReport(join(dir, "nothing"))).rejects.toThrow(/no results\.json/);
  });
});
