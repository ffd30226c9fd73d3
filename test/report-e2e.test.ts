// The report of a real tiny experiment run: `robustseg run` writes report.html with the figure
// panels fetched from the worker; `robustseg report DIR` rebuilds it from the folder without a
// worker; headless Chromium (Debian's chromium via playwright-core) opens it and sees no console
// errors, every image decoded, the four models in the tables and the charts' marks.
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_PATH, checkReportInBrowser, chromiumAvailable } from "./fixtures/browser.js";
import type { FiguresIndex } from "../ts/run-folder/figures-index.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { runCliCaptured } from "./fixtures/cli.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-report-e2e-");
const out = join(dir, "run");
let worker: SupervisedWorker;

beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "workspace"), device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const TINY = `
name: tiny-report
data: { source: synthetic-histology, tileSize: 32, train: 12, validation: 4, test: 6, seed: 2 }
model: { depth: 2, baseWidth: 4 }
training: { epochs: 2, batchSize: 4, learningRate: 0.01, augment: false }
methodOne: { steps: 2 }
methodTwo: { strategy: greedy }
evaluation: { attack: { steps: 2 } }
`;

const cli = (argv: string[], withWorker = true) => runCliCaptured(argv, withWorker ? { worker } : {});

describe("the report of a real tiny run", () => {
  it("robustseg run writes figures/*.png, figures.json, report.html and report.md and prints the report's path", async () => {
    const spec = join(dir, "tiny.yaml");
    writeFileSync(spec, TINY);
    const { code, stdout, stderr } = await cli(["--quiet", "run", spec, "--out", out]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain(`report: ${join(out, "report.html")}`);
    const index = JSON.parse(readFileSync(join(out, "figures.json"), "utf8")) as FiguresIndex;
    expect(index.figures.map((f) => [f.id, f.paperFigure, f.perturbedDataset, f.attackModel])).toEqual([
      ["fig1-method-one", "1", "D1", null],
      ["fig2-plain-pgd", "2", null, "M1"],
      ["fig3-method-two", "3", "D2", null],
      ["fig5-m1-white-box", "5", null, "M1"],
      ["fig6-m2-white-box", "6", null, "M2"],
      ["fig7-m3-white-box", "7", null, "M3"],
      ["fig8-m4-white-box", "8", null, "M4"],
    ]);
    expect(index.classColors).toHaveLength(index.classNames.length);
    for (const f of index.figures) {
      expect(f.images.map((i) => i.imageIndex)).toEqual([0, 1]);
      for (const img of f.images) {
        const kinds = img.panels.map((p) => p.kind);
        expect(kinds).toEqual(expect.arrayContaining(["image", "truth", "clean_prediction", "perturbation", "perturbed", "prediction"]));
        expect(img.linf).toBeGreaterThan(0);
        // Full-area targeted attacks show their target, captioned with its class.
        if (f.id === "fig2-plain-pgd") expect(img.panels.find((p) => p.kind === "target")?.caption).toBe(`target: ${index.classNames.at(-1)}`);
        if (f.id.endsWith("white-box")) expect(img.panels.find((p) => p.kind === "target")?.caption).toBe("target: background");
        for (const p of img.panels) expect(readFileSync(join(out, p.file)).subarray(1, 4).toString()).toBe("PNG");
      }
    }
    expect(existsSync(join(out, "report.md"))).toBe(true);
  });

  it("a rerun reuses the figures stage", async () => {
    const { code, stdout } = await cli(["run", join(dir, "tiny.yaml"), "--out", out, "--json"]);
    expect(code).toBe(0);
    const results = JSON.parse(stdout) as { stages: { id: string; reused: boolean }[] };
    expect(results.stages.find((s) => s.id === "figures")).toMatchObject({ reused: true });
  });

  it("robustseg report DIR rebuilds report.html from the folder without a worker", async () => {
    rmSync(join(out, "report.html"));
    const { code, stdout, stderr } = await cli(["--worker", "127.0.0.1:1", "report", out], false);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain(`report: ${join(out, "report.html")}`);
    expect(stdout).toContain("7 figures, charts: validation-loss, method-two-choices");
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html.match(/<img src="data:image\/png;base64,/g)?.length).toBeGreaterThan(7 * 2 * 6);
    expect(statSync(join(out, "report.html")).size).toBeLessThan(5_000_000);
  });

  it("headless Chromium shows it: no console errors, every image decoded, four models per table, charts with marks", async (ctx) => {
    if (!chromiumAvailable()) {
      const why = `${CHROMIUM_PATH} is missing: run \`npm run setup\` as root on Debian/Ubuntu (it installs the chromium package) or set ROBUSTSEG_CHROMIUM`;
      if (process.env.CI) throw new Error(`browser test: ${why}`);
      console.warn(`skipping the browser test: ${why}`);
      ctx.skip();
    }
    const shot = join(out, "report-screenshot.png");
    const seen = await checkReportInBrowser(join(out, "report.html"), shot);
    expect(seen.consoleErrors).toEqual([]);
    expect(seen.images.length).toBeGreaterThan(7 * 2 * 6);
    for (const img of seen.images) {
      expect(img.complete).toBe(true);
      expect(img.naturalWidth).toBeGreaterThan(0);
      expect(img.naturalHeight).toBeGreaterThan(0);
    }
    expect(seen.tableModels).toEqual([0, 1, 2].map(() => ["M1", "M2", "M3", "M4"]));
    expect(seen.charts.map((c) => c.id)).toEqual(["chart-validation-loss", "chart-method-two-choices", "chart-foreground-accuracy"]);
    for (const c of seen.charts) {
      expect(c.marks).toBeGreaterThan(10);
      expect(c.width).toBeGreaterThan(100);
    }
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    try {
      copyFileSync(shot, "/tmp/robustseg-report.png");
    } catch {
      // only a convenience for looking at it
    }
  });
});
