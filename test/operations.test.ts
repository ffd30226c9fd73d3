// The control plane's operations (ts/ops) against the real worker, as the CLI and the later
// experiment runner use them: plain results, progress through the reporter, reuse on a rerun.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoPreset, runDemo } from "../ts/ops/demo.js";
import type { ProgressUpdate, Reporter } from "../ts/ops/reporter.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-ops-");
let worker: SupervisedWorker;
beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "workspace"), device: "cpu" });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const tinyPreset: DemoPreset = {
  dataset: { source: "synthetic-histology", tileSize: 16, numTrain: 8, numValidation: 4, numTest: 4, seed: 5 },
  model: { architecture: "unet", depth: 2, baseWidth: 4, upsampling: "transposed" },
  training: { epochs: 2, batchSize: 4, learningRate: 0.01, seed: 0, augment: true },
};

function recordingReporter(): Reporter & { updates: ProgressUpdate[]; stagesEnded: number } {
  const updates: ProgressUpdate[] = [];
  return {
    updates,
    stagesEnded: 0,
    progress(update) {
      updates.push(update);
    },
    endStage() {
      this.stagesEnded++;
    },
  };
}

describe("runDemo on a tiny preset", () => {
  it("creates, trains and evaluates, reporting progress, beside the all-background predictor", async () => {
    const reporter = recordingReporter();
    const outcome = await runDemo(worker.client, tinyPreset, { reporter });

    expect(outcome.dataset.reused).toBe(false);
    expect(outcome.dataset.datasets.map((d) => d.split)).toEqual(["train", "validation", "test"]);
    expect(outcome.training.reused).toBe(false);
    expect(outcome.training.model.architecture).toEqual({ name: "unet", depth: 2, baseWidth: 4, upsampling: "transposed" });
    expect(outcome.training.model.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    for (const e of outcome.training.model.epochs) expect(e.validationPixelAccuracy).toBeGreaterThanOrEqual(0);

    const [trained, baseline] = outcome.comparison;
    expect(trained?.predictor).toBe("trained U-Net");
    expect(trained?.metrics).toBe(outcome.evaluation.metrics);
    expect(baseline?.predictor).toBe("all-background predictor");
    expect(baseline?.metrics.foregroundAccuracy).toBe(0);
    expect(baseline?.metrics.meanLoss).toBeNull();
    // Same truth under both predictors: background share = the baseline's pixel accuracy.
    const test = outcome.dataset.datasets[2];
    expect(baseline?.metrics.pixelAccuracy).toBeCloseTo(test?.classShares[0] ?? -1, 12);
    expect(baseline?.metrics.numPixels).toBe(outcome.evaluation.numPixels);

    const stages = new Set(reporter.updates.map((u) => u.stage));
    expect(stages.has("train")).toBe(true);
    const lastTrain = reporter.updates.filter((u) => u.stage === "train").at(-1);
    expect(lastTrain).toMatchObject({ done: 4, total: 4 }); // 2 epochs × 2 steps
    expect(reporter.stagesEnded).toBe(3);
    expect(JSON.stringify(outcome)).not.toMatch(/NaN/);
  });

  it("reuses every artifact on a second run, with the same metrics", async () => {
    const first = await runDemo(worker.client, tinyPreset);
    const second = await runDemo(worker.client, tinyPreset);
    expect(second.dataset.reused).toBe(true);
    expect(second.training.reused).toBe(true);
    expect(second.training.model.id).toBe(first.training.model.id);
    expect(second.evaluation.metrics).toEqual(first.evaluation.metrics);
    expect(second.training.model.epochs).toEqual(first.training.model.epochs);
  });
});
