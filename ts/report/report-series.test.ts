// The report of a series (several seeds) with the baselines, the worst case and a flagged trust
// check: tables with mean ± sd and the paired difference to M1, members beside the worst case,
// the flag, and charts with error bars.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fixtureResults } from "../../test/fixtures/report-run-folder.js";
import type { EvaluationResult, ExperimentResults, SeedRunResult } from "../experiment/results.js";
import { aggregateSeries } from "../experiment/series.js";
import { renderTablesMarkdown } from "../experiment/tables.js";
import { writeReport } from "./report.js";

const dir = mkdtempSync(join(tmpdir(), "robustseg-report-series-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One seed's results: the fixture's, with a PGD-AT model, the worst case and fg accuracies shifted per seed. */
function seedResults(runDir: string, seed: number): ExperimentResults {
  const r = fixtureResults(runDir);
  const shift = (e: EvaluationResult, d: number): EvaluationResult => ({ ...e, metrics: { ...e.metrics, foregroundAccuracy: (e.metrics.foregroundAccuracy ?? 0) + d } });
  const base = r.evaluations.map((e) => shift(e, 0.01 * seed));
  const m1 = base.find((e) => e.model === "M1" && e.protocol === "white-box") as EvaluationResult;
  const pgdAt = base.filter((e) => e.model === "M1").map((e) => shift({ ...e, model: "PGD-AT" }, 0.05 + 0.002 * seed));
  const worst = ["M1", "PGD-AT"].map((model, i) => shift({ ...m1, model: model as "M1", protocol: "worst-case", attack: null }, -0.2 + 0.1 * i));
  return {
    ...r,
    models: [...r.models, { ...(r.models[0] as ExperimentResults["models"][number]), name: "PGD-AT", adversarialTraining: "PGD-AT ε = 0.01, 3 steps, random start" }],
    evaluations: [...base, ...pgdAt, ...worst],
    worstCase: worst.map((w) => ({
      model: w.model,
      modelId: w.modelId,
      dataset: "test",
      datasetId: "ds-test",
      members: ["APGD CE", "PGD (evaluation attack)"].map((label, i) => ({ label, attack: m1.attack ?? { method: "pgd", epsilon: 0.01, target: "untargeted" }, metrics: { ...w.metrics, foregroundAccuracy: (w.metrics.foregroundAccuracy ?? 0) + 0.1 * (i + 1) }, foregroundToBackground: null, confusion: w.confusion, chosenImages: 2 })),
      chosenMember: [0, 0, 1, 1],
      cached: false,
    })),
    trust: {
      options: { tolerance: 0.005, largeEpsilonMaxAccuracy: 0.1 },
      evaluations: [],
      checks: [{ check: "large-epsilon", model: "M2", flagged: seed === 1, message: "foreground accuracy 0.400 at ε = 0.1 (above 0.100): the attack barely works where it should win" }],
      flagged: seed === 1 ? 1 : 0,
    },
  };
}

describe("the report of a series", () => {
  const runDir = join(dir, "series");
  const runs: SeedRunResult[] = [0, 1, 2].map((seed) => {
    const r = seedResults(join(runDir, "seeds", `seed-${seed}`), seed);
    return { seed, runDir: `seeds/seed-${seed}`, cached: false, totalSeconds: 10, models: r.models, evaluations: r.evaluations, worstCase: r.worstCase ?? [], sweeps: r.sweeps, trust: r.trust ?? null };
  });
  const first = seedResults(runDir, 0);
  const results: ExperimentResults = { ...first, runDir, series: { seeds: [0, 1, 2], varyData: false, runs, aggregate: aggregateSeries(runs) } };

  it("aggregates per model and protocol, with the paired difference to M1", () => {
    const agg = results.series?.aggregate;
    const pgd = agg?.evaluations.find((r) => r.model === "PGD-AT" && r.protocol === "white-box");
    // PGD-AT − M1 = 0.05 + 0.002·seed: mean 0.052, sd 0.002
    expect(pgd?.differenceToReference?.foregroundAccuracy.mean).toBeCloseTo(0.052, 12);
    expect(pgd?.differenceToReference?.foregroundAccuracy.sd).toBeCloseTo(0.002, 12);
    expect(agg?.worstCase.map((w) => [w.model, w.chosen])).toEqual([
      ["M1", [6, 6]],
      ["PGD-AT", [6, 6]],
    ]);
    expect(agg?.trustFlags.map((f) => [f.model, f.seed])).toEqual([["M2", 1]]);
    // Each model's loss under each attack protocol, paired with M1's (none for M1 itself).
    const drop = (model: string, protocol: string) => agg?.drops.find((d) => d.model === model && d.protocol === protocol);
    expect(drop("M1", "white-box")?.differenceToReference).toBeNull();
    expect(drop("PGD-AT", "worst-case")?.drop.n).toBe(3);
    expect(agg?.trustChecks).toBe(3);
  });

  it("writes tables and a report with mean ± sd, Δ to M1, the worst case's members, the flag and error bars", async () => {
    const md = renderTablesMarkdown(results);
    expect(md).toContain("3 seeds (0, 1, 2): mean ± sd over seeds.");
    expect(md).toMatch(/\| PGD-AT \(clean, every batch attacked: PGD-AT ε = 0\.01, 3 steps, random start\) \|.*\| \+0\.052 \[\+0\.047, \+0\.057\] \(higher, beyond the seed spread\) \|/);
    expect(md).toContain("Table 2c: worst case per image over the strong ensemble");
    expect(md).toContain("| M2 | large-epsilon | 1 | foreground accuracy 0.400 at ε = 0.1");
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, "results.json"), JSON.stringify(results));
    const written = await writeReport(runDir);
    const html = readFileSync(written.html, "utf8");
    expect(html).toContain("Δ fg accuracy vs M1 (95% CI, 3 seeds)");
    expect(html).toMatch(/<tr data-model="PGD-AT"><td class=l>PGD-AT<\/td><td class=l>clean, PGD-AT ε = 0\.01/);
    expect(html).toContain("<h3>The worst case's members</h3>");
    expect(html).toContain('<p class="flag">3 checks, 1 flagged.</p>');
    expect(html).toContain("seeds/seed-2/report.html");
    expect(html).toContain("<h3>Foreground accuracy lost under attack</h3>");
    // The foreground-accuracy chart draws error bars (Vega-Lite errorbar → rule marks).
    const chart = html.slice(html.indexOf('id="chart-foreground-accuracy"'));
    expect(chart.slice(0, chart.indexOf("</figure>"))).toMatch(/class="mark-rule/);
  });
});
