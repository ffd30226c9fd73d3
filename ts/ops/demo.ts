// The single-model pipeline: synthetic histology → small U-Net → metrics on the test split, beside
// the all-background predictor. Every stage is an artifact request, so a second run reuses them.
// (`robustseg demo` now runs the whole four-model experiment: ts/experiment, preset "demo".)
import type { WorkerClient } from "../client/worker-client.js";
import { allBackgroundConfusion } from "../metrics/baselines.js";
import { confusionFromRows, truthCounts } from "../metrics/confusion-matrix.js";
import { type SegmentationMetrics, segmentationMetrics } from "../metrics/segmentation-metrics.js";
import { createDataset, type CreateDatasetOutcome, datasetOfSplit, type SyntheticHistologyParams } from "./create-dataset.js";
import { evaluateModel, type EvaluateOutcome } from "./evaluate-model.js";
import type { OperationContext } from "./reporter.js";
import { trainModel, type TrainingParams, type TrainOutcome, type UNetParams } from "./train-model.js";

export interface DemoPreset {
  dataset: SyntheticHistologyParams;
  model: UNetParams;
  training: TrainingParams;
}

/** Defaults of `dataset create` and `train`, and the single-model pipeline's parameters. */
export const DEMO_PRESET: DemoPreset = {
  dataset: { source: "synthetic-histology", tileSize: 64, numTrain: 200, numValidation: 48, numTest: 64, seed: 0 },
  model: { architecture: "unet", depth: 3, baseWidth: 16, upsampling: "bilinear" },
  training: { epochs: 15, batchSize: 16, learningRate: 0.005, seed: 0, augment: true },
};

export interface PredictorRow {
  predictor: string;
  metrics: SegmentationMetrics;
}

export interface DemoOutcome {
  preset: DemoPreset;
  dataset: CreateDatasetOutcome;
  training: TrainOutcome;
  evaluation: EvaluateOutcome;
  /** The trained model and the all-background predictor on the test split. */
  comparison: PredictorRow[];
  seconds: { dataset: number; train: number; evaluate: number; total: number };
}

export async function runDemo(client: WorkerClient, preset: DemoPreset = DEMO_PRESET, context: OperationContext = {}): Promise<DemoOutcome> {
  const t0 = performance.now();
  const dataset = await createDataset(client, preset.dataset, context);
  const t1 = performance.now();
  const training = await trainModel(
    client,
    {
      trainDatasetIds: [datasetOfSplit(dataset, "train").id],
      validationDatasetId: datasetOfSplit(dataset, "validation").id,
      model: preset.model,
      training: preset.training,
    },
    context,
  );
  const t2 = performance.now();
  const evaluation = await evaluateModel(client, { modelId: training.model.id, datasetId: datasetOfSplit(dataset, "test").id }, context);
  const t3 = performance.now();
  const baseline = segmentationMetrics(allBackgroundConfusion(truthCounts(confusionFromRows(evaluation.confusion))), {
    classNames: evaluation.classNames,
  });
  const s = (ms: number) => Math.round(ms) / 1000;
  return {
    preset,
    dataset,
    training,
    evaluation,
    comparison: [
      { predictor: "trained U-Net", metrics: evaluation.metrics },
      { predictor: "all-background predictor", metrics: baseline },
    ],
    seconds: { dataset: s(t1 - t0), train: s(t2 - t1), evaluate: s(t3 - t2), total: s(t3 - t0) },
  };
}
