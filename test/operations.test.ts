// The control plane's operations (ts/ops) against the real worker, for every model backend: a
// tiny dataset, one training step, the artifact store round trip (the same request is reused,
// GetModel gives back the spec), an attack that stays in its ε-ball, evaluation under attack,
// and an export whose bytes arrive whole. Tiny: 8 train tiles of 32×32, one step per backend.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GradientAttackParams } from "../ts/attacks/registry.js";
import { attackSpec } from "../ts/attacks/registry.js";
import { type ModelParams, modelParamsOf } from "../ts/backends/registry.js";
import { attackDataset } from "../ts/ops/attack-dataset.js";
import { createDataset, type CreateDatasetOutcome, datasetOfSplit } from "../ts/ops/create-dataset.js";
import { evaluateModel } from "../ts/ops/evaluate-model.js";
import { exportModel } from "../ts/ops/export-model.js";
import type { ProgressUpdate, Reporter } from "../ts/ops/reporter.js";
import { trainModel, type TrainOutcome } from "../ts/ops/train-model.js";
import { getWorkerInfo } from "../ts/ops/worker-info.js";
import { spawnWorker, type SupervisedWorker } from "../ts/worker/supervisor.js";
import { TINY_MODELS } from "./fixtures/tiny-models.js";
import { scratchDir } from "./fixtures/scripts.js";

const dir = scratchDir("robustseg-ops-");
let worker: SupervisedWorker;
let data: CreateDatasetOutcome;

beforeAll(async () => {
  worker = await spawnWorker({ workspace: join(dir, "workspace"), device: "cpu" });
  data = await createDataset(worker.client, { source: "synthetic-histology", tileSize: 32, numTrain: 8, numValidation: 4, numTest: 4, seed: 5 });
});
afterAll(async () => {
  await worker?.close();
  rmSync(dir, { recursive: true, force: true });
});

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

const training = { epochs: 1, batchSize: 8, learningRate: 0.01, seed: 0, augment: false };

describe("every backend the worker reports", () => {
  it("is one this control plane has a module for, and available", async () => {
    const info = await getWorkerInfo(worker.client);
    for (const name of Object.keys(TINY_MODELS)) {
      const b = info.backends.find((x) => x.name === name);
      expect(b, name).toBeDefined();
      expect(b?.known).toBe(true);
      expect(b?.available, `${name}: ${b?.unavailableReason}`).toBe(true);
    }
  });
});

describe.each(Object.entries(TINY_MODELS))("backend %s", (backend, model: ModelParams) => {
  let trained: TrainOutcome;

  it("trains one step, reporting progress, and keeps the best epoch", async () => {
    const reporter = recordingReporter();
    trained = await trainModel(
      worker.client,
      { trainDatasetIds: [datasetOfSplit(data, "train").id], validationDatasetId: datasetOfSplit(data, "validation").id, model, training },
      { reporter },
    );
    expect(trained.model.backend).toBe(backend);
    expect(trained.model.spec?.backend).toBe(backend);
    expect(trained.model.description.length).toBeGreaterThan(5);
    expect(trained.model.numParameters).toBeGreaterThan(0);
    expect(trained.model.classNames).toEqual(datasetOfSplit(data, "train").classNames);
    expect(trained.model.epochs).toHaveLength(1);
    expect(trained.model.bestEpoch).toBe(1);
    expect(Number.isFinite(trained.model.epochs[0]?.validationLoss)).toBe(true);
    expect(reporter.updates.filter((u) => u.stage === "train").at(-1)).toMatchObject({ done: 1, total: 1 });
    expect(reporter.stagesEnded).toBe(1);
  });

  it("round-trips through the artifact store: the same request is reused, GetModel gives back its spec", async () => {
    const again = await trainModel(worker.client, {
      trainDatasetIds: [datasetOfSplit(data, "train").id],
      validationDatasetId: datasetOfSplit(data, "validation").id,
      model,
      training,
    });
    expect(again.reused).toBe(true);
    expect(again.model.id).toBe(trained.model.id);
    expect(again.model.epochs).toEqual(trained.model.epochs);
    const stored = await worker.client.getModel(trained.model.id);
    expect(modelParamsOf(stored.spec)).toEqual(trained.model.spec);
    // Whatever the spec left to the worker's defaults comes back filled, and asking with it gives the same model.
    const filled = modelParamsOf(stored.spec) as ModelParams;
    const explicit = await trainModel(worker.client, {
      trainDatasetIds: [datasetOfSplit(data, "train").id],
      validationDatasetId: datasetOfSplit(data, "validation").id,
      model: filled,
      training,
    });
    expect(explicit.model.id).toBe(trained.model.id);
  });

  it("is attacked: PGD stays in its ε-ball and moves the images; evaluating under it equals evaluating its dataset", async () => {
    const test = datasetOfSplit(data, "test");
    const pgd: GradientAttackParams = { method: "pgd", epsilon: 0.02, steps: 2, target: { class: "background" } };
    const attacked = await attackDataset(worker.client, { modelId: trained.model.id, datasetId: test.id, attack: pgd });
    expect(attacked.dataset.numImages).toBe(test.numImages);
    expect(attacked.dataset.classPixelCounts).toEqual(test.classPixelCounts);
    expect(attacked.maxLinf).toBeGreaterThan(0);
    expect(attacked.maxLinf).toBeLessThanOrEqual(0.02 + 1e-6);
    // The attack computed per batch while evaluating is the same attack as the stored dataset's.
    const onTheFly = await evaluateModel(worker.client, { modelId: trained.model.id, datasetId: test.id, attack: attackSpec(pgd, trained.model.classNames) });
    const stored = await evaluateModel(worker.client, { modelId: trained.model.id, datasetId: attacked.dataset.id });
    expect(onTheFly.numPixels).toBe(test.numImages * 32 * 32);
    expect(onTheFly.confusion).toEqual(stored.confusion);
  });

  it("exports to ONNX: the bytes arrive whole (size and sha256 checked) at --out", async () => {
    const out = join(dir, `${backend}.onnx`);
    const exported = await exportModel(worker.client, { modelId: trained.model.id, format: "onnx", out });
    expect(exported.path).toBe(out);
    const bytes = readFileSync(out);
    expect(bytes.length).toBe(exported.sizeBytes);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(exported.sha256);
    expect(exported.opset).toBeGreaterThan(0);
    expect(exported.classNames).toEqual(trained.model.classNames);
    expect(existsSync(join(dir, `.${backend}.onnx`))).toBe(false);
  });
});
