// The robustness study beyond the paper (baselines, the worst case, seeds, the trust checks) end
// to end with the real worker on tiny data: a series over two seeds with an adversarial-training
// baseline and the worst-case protocol (per-seed folders, the aggregate,
// reading finished seeds back, resuming an interrupted series inside its seed), and a
// gradient-masking model (its input rounded to 4 levels: no gradient) that must raise the trust
// checks' flags while the same model without the rounding does not.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataset, datasetOfSplit } from "../ts/ops/create-dataset.js";
import { runSweep } from "../ts/ops/sweep.js";
import { trainModel } from "../ts/ops/train-model.js";
import type { ExperimentResults } from "../ts/experiment/results.js";
import { planExperiment, stageDependencies, type StageId } from "../ts/experiment/plan.js";
import { runExperimentSeries, seedSpec } from "../ts/experiment/series.js";
import { loadSpec, mergeSpec, parseSpec } from "../ts/experiment/spec.js";
import { runTrustChecks } from "../ts/experiment/trust-checks.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { scratchDir } from "./fixtures/scripts.js";
import { parse as parseYaml } from "yaml";

const dir = scratchDir("robustseg-robust-");
let worker: SupervisedWorker;

beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "workspace"), device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SERIES = `
name: series
seeds: [0, 1]
data: { source: synthetic-histology, tileSize: 32, train: 12, validation: 4, test: 6, seed: 3 }
model: { depth: 2, baseWidth: 4 }
training: { epochs: 1, batchSize: 4, learningRate: 0.01, augment: false }
methodOne: { steps: 1 }
methodTwo: { strategy: greedy }
baselines: [{ method: pgd-at, steps: 1 }]
evaluation:
  attack: { steps: 2 }
  protocols: [white-box, worst-case]
  strong: { steps: 2, losses: [masked-ce, js] }
trust: { largeEpsilon: false, moreSteps: false }
`;

describe("a series over two seeds with a baseline and the worst case", () => {
  const spec = parseSpec(parseYaml(SERIES));
  const runDir = join(dir, "series");
  let interrupted: string[] = [];

  it("resumes an interrupted series inside the seed it was in", async () => {
    const controller = new AbortController();
    let seedsStarted = 0;
    await expect(
      runExperimentSeries(worker, spec, {
        runDir,
        signal: controller.signal,
        onStageEnd: (stage) => {
          if (stage.id === "data") seedsStarted++;
          if (seedsStarted === 2) interrupted.push(stage.id);
          if (seedsStarted === 2 && stage.id === "train-M1") controller.abort(new Error("stopped by the test"));
        },
      }),
    ).rejects.toThrow();
    // Seed 1 stopped as M1's training ended. Which other stages finished by then depends on the
    // schedule (PGD-AT and its evaluations need only the data and may run beside M1), so the test
    // asserts the outcome: the data and M1 were finished, and nothing that needs M1 had started.
    expect(interrupted).toEqual(expect.arrayContaining(["data", "train-M1"]));
    const needs = stageDependencies(planExperiment(seedSpec(spec, 1)));
    for (const id of interrupted) {
      if (id !== "train-M1") expect({ id, needsM1: needs.get(id as StageId)?.includes("train-M1") }).toEqual({ id, needsM1: false });
    }
    expect(existsSync(join(runDir, "seeds", "seed-0", "results.json"))).toBe(true);
    expect(existsSync(join(runDir, "seeds", "seed-1", "results.json"))).toBe(false);
  });

  let results: ExperimentResults;

  it("reads the finished seed back, resumes the other, and aggregates over both", async () => {
    results = await runExperimentSeries(worker, spec, { runDir });
    const series = results.series;
    expect(series?.seeds).toEqual([0, 1]);
    expect(series?.runs.map((r) => [r.seed, r.runDir, r.cached])).toEqual([
      [0, "seeds/seed-0", true],
      [1, "seeds/seed-1", false],
    ]);
    const seed1 = JSON.parse(readFileSync(join(runDir, "seeds", "seed-1", "results.json"), "utf8")) as ExperimentResults;
    const reused = Object.fromEntries(seed1.stages.map((s) => [s.id, s.reused]));
    for (const id of interrupted) expect(reused[id]).toBe(true);
    expect(reused["train-M2"]).toBe(false);
    // The training seed differs, the data seed stays: same datasets, other models.
    const [r0, r1] = series?.runs ?? [];
    expect(seed1.seed).toBe(1);
    expect(r0?.models.map((m) => m.id)).not.toEqual(r1?.models.map((m) => m.id));
    expect(seed1.datasets.find((d) => d.role === "test")?.id).toBe(results.datasets.find((d) => d.role === "test")?.id);
    // Aggregate: every model under every protocol over both seeds, paired with M1.
    const rows = series?.aggregate.evaluations ?? [];
    expect(rows.map((r) => `${r.protocol} ${r.model}`)).toEqual(
      ["clean", "white-box", "worst-case"].flatMap((p) => ["M1", "M2", "M3", "M4", "PGD-AT"].map((m) => `${p} ${m}`)),
    );
    for (const r of rows) {
      expect(r.seeds).toEqual([0, 1]);
      expect(r.metrics.pixelAccuracy.n).toBe(2);
      if (r.model === "M1") expect(r.differenceToReference).toBeNull();
      else expect(r.differenceToReference?.pixelAccuracy.n).toBe(2);
    }
    expect(results.models.find((m) => m.name === "PGD-AT")?.adversarialTraining).toBe("PGD-AT ε = 0.01, 1 step, random start");
    expect(series?.aggregate.worstCase[0]?.labels).toEqual(["APGD masked CE", "APGD JS divergence", "PGD (evaluation attack)"]);
    // Per seed, per model: the per-image worst case leaves at most the foreground pixels any member leaves.
    for (const run of series?.runs ?? []) {
      for (const w of run.worstCase) {
        const worst = run.evaluations.find((e) => e.model === w.model && e.protocol === "worst-case");
        const fgRight = (c: number[][]) => c.slice(1).reduce((a, row, i) => a + (row[i + 1] ?? 0), 0);
        for (const m of w.members) expect(fgRight(worst?.confusion ?? [])).toBeLessThanOrEqual(fgRight(m.confusion));
        expect(w.members.reduce((a, m) => a + m.chosenImages, 0)).toBe(6);
      }
    }
    const tables = readFileSync(join(runDir, "tables.md"), "utf8");
    expect(tables).toContain("2 seeds (0, 1): mean ± sd over seeds.");
    expect(tables).toContain("Table 2c: worst case per image over the strong ensemble");
  });

  it("reads both seeds back when run again", async () => {
    const again = await runExperimentSeries(worker, spec, { runDir });
    expect(again.series?.runs.map((r) => r.cached)).toEqual([true, true]);
    expect(again.series?.aggregate).toEqual(results.series?.aggregate);
  });

  it("runs a seed again when its spec changed", async () => {
    const changed = parseSpec(mergeSpec(parseYaml(SERIES), { seeds: [1], evaluation: { strong: { losses: ["masked-ce"] } } }));
    const out = await runExperimentSeries(worker, changed, { runDir });
    expect(out.series?.runs.map((r) => [r.seed, r.cached])).toEqual([[1, false]]);
    expect(out.series?.aggregate.worstCase[0]?.labels).toEqual(["APGD masked CE", "PGD (evaluation attack)"]);
  });
});

describe("a gradient-masking model", () => {
  it("raises the trust flags that the same model without the rounding does not", async () => {
    const client = worker.client;
    const spec = await loadSpec({ preset: "demo" });
    const data = await createDataset(client, { source: "synthetic-histology", tileSize: 32, numTrain: 32, numValidation: 8, numTest: 8, seed: 5 });
    const [train, validation, test] = (["train", "validation", "test"] as const).map((s) => datasetOfSplit(data, s));
    const curves = [];
    for (const inputBits of [0, 2]) {
      const trained = await trainModel(client, {
        trainDatasetIds: [train?.id ?? ""],
        validationDatasetId: validation?.id ?? "",
        model: { backend: "unet", architecture: "unet", depth: 2, baseWidth: 8, upsampling: "bilinear", inputBits },
        training: { epochs: 4, batchSize: 8, learningRate: 0.01, seed: 0, augment: false },
      });
      const sweep = await runSweep(client, {
        modelId: trained.model.id,
        datasetId: test?.id ?? "",
        attack: { method: "pgd", steps: 5, randomStart: false, seed: 0, target: { class: "background" } },
        epsilons: [0, 0.02, spec.trust.largeEpsilon === false ? 0.1 : spec.trust.largeEpsilon],
      });
      curves.push({ name: inputBits ? "masking" : "plain", points: sweep.points });
    }
    const [plain, masking] = curves;
    // The rounding leaves the model able to segment (so a flat curve means something) ...
    expect(masking?.points[0]?.foregroundAccuracy).toBeGreaterThan(0.1);
    // ... and the attack cannot move it: the same accuracy at every ε.
    expect(new Set(masking?.points.map((p) => p.foregroundAccuracy)).size).toBe(1);
    const checks = runTrustChecks({
      sweeps: curves.map((c) => ({ model: c.name, label: c.name, points: c.points })),
      largeEpsilon: curves.map((c) => ({ model: c.name, epsilon: 0.1, foregroundAccuracy: c.points.at(-1)?.foregroundAccuracy ?? null })),
    });
    const flagged = (model: string, check: string) => checks.find((c) => c.model === model && c.check === check)?.flagged;
    expect(flagged("masking", "epsilon-sweep")).toBe(true);
    expect(flagged("masking", "large-epsilon")).toBe(true);
    expect(flagged("plain", "epsilon-sweep")).toBe(false);
    expect(plain?.points.at(-1)?.foregroundAccuracy).toBeLessThan(masking?.points.at(-1)?.foregroundAccuracy ?? 0);
  });
});
