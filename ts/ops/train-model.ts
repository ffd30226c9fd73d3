// Training a model on the worker; per-epoch validation metrics computed here from the
// validation confusion matrices the worker streams back.
import type { WorkerClient } from "../client/worker-client.js";
import type { EpochSummary, ModelInfo, TrainingConfig, TrainRequest } from "../generated/robustseg/v1/model.js";
import { confusionFromMessage } from "../metrics/confusion-matrix.js";
import { segmentationMetrics } from "../metrics/segmentation-metrics.js";
import { type AdversarialTrainingParams, adversarialTrainingToProto } from "./adversarial-training.js";
import { describeModel, type ModelParams, modelParamsOf, modelSpec } from "../backends/registry.js";
import { type DistributedParams, distributedMessage } from "./distributed.js";
import { type OperationContext, silentReporter } from "./reporter.js";

export interface TrainingParams {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  augment: boolean;
  /** PGD-AT / SegPGD-AT; absent = clean training. */
  adversarial?: AdversarialTrainingParams | undefined;
}


export interface TrainParams {
  trainDatasetIds: string[];
  validationDatasetId: string;
  model: ModelParams;
  training: TrainingParams;
  /** Absent, or one process on one node: training in the worker's own process. */
  distributed?: DistributedParams | undefined;
}

export interface EpochRow {
  epoch: number;
  trainLoss: number;
  validationLoss: number;
  validationPixelAccuracy: number | null;
  validationForegroundAccuracy: number | null;
  validationMeanIoU: number | null;
  /** Best validation loss so far: these weights were kept. */
  best: boolean;
}

export interface ModelSummary {
  id: string;
  backend: string;
  /** The model's spec as the worker stored it (defaults filled); null for a backend this CLI does not know. */
  spec: ModelParams | null;
  /** One line: "U-Net depth 3, base width 16, bilinear up-sampling". */
  description: string;
  numClasses: number;
  classNames: string[];
  numParameters: number;
  bestEpoch: number;
  bestValidationLoss: number;
  epochs: EpochRow[];
}

export interface TrainOutcome {
  params: TrainParams;
  /** The same training already existed in the workspace. */
  reused: boolean;
  model: ModelSummary;
}

/** The contract's TrainingConfig. */
export function trainingConfig(t: TrainingParams): TrainingConfig {
  return {
    epochs: t.epochs,
    batchSize: t.batchSize,
    learningRate: t.learningRate,
    seed: t.seed,
    augment: t.augment,
    adversarial: t.adversarial ? adversarialTrainingToProto(t.adversarial) : undefined,
  };
}

export function trainRequest(params: TrainParams): TrainRequest {
  return {
    model: modelSpec(params.model),
    trainDatasetIds: [...params.trainDatasetIds],
    validationDatasetId: params.validationDatasetId,
    config: trainingConfig(params.training),
    distributed: distributedMessage(params.distributed),
  };
}


export function epochRow(summary: EpochSummary): EpochRow {
  const metrics = summary.validationConfusion
    ? segmentationMetrics(confusionFromMessage(summary.validationConfusion, `epoch ${summary.epoch} validation confusion`))
    : undefined;
  return {
    epoch: summary.epoch,
    trainLoss: summary.trainLoss,
    validationLoss: summary.validationLoss,
    validationPixelAccuracy: metrics?.pixelAccuracy ?? null,
    validationForegroundAccuracy: metrics?.foregroundAccuracy ?? null,
    validationMeanIoU: metrics?.meanIoU ?? null,
    best: summary.best,
  };
}

export function summariseModel(info: ModelInfo): ModelSummary {
  const spec = modelParamsOf(info.spec);
  return {
    id: info.id,
    backend: info.backend,
    spec,
    description: spec ? describeModel(spec) : `${info.backend || "unknown"} backend`,
    numClasses: info.numClasses,
    classNames: [...info.classNames],
    numParameters: info.numParameters,
    bestEpoch: info.bestEpoch,
    bestValidationLoss: info.bestValidationLoss,
    epochs: info.history.map(epochRow),
  };
}

export async function trainModel(client: WorkerClient, params: TrainParams, context: OperationContext = {}): Promise<TrainOutcome> {
  const reporter = context.reporter ?? silentReporter;
  const { epochs } = params.training;
  let lastEpoch: EpochRow | undefined;
  try {
    const result = await client.trainResult(trainRequest(params), {
      signal: context.signal,
      onEvent: (event) => {
        switch (event.$case) {
          case "progress":
            reporter.progress({ stage: event.value.stage || "train", done: event.value.done, total: event.value.total, message: event.value.message });
            break;
          case "step": {
            const { epoch, step, stepsPerEpoch, loss } = event.value;
            const previous = lastEpoch ? ` | val loss ${lastEpoch.validationLoss.toFixed(4)}` : "";
            reporter.progress({
              stage: "train",
              done: (epoch - 1) * stepsPerEpoch + step,
              total: epochs * stepsPerEpoch,
              message: `epoch ${epoch}/${epochs} loss ${loss.toFixed(4)}${previous}`,
            });
            break;
          }
          case "epoch":
            lastEpoch = epochRow(event.value);
            break;
        }
      },
    });
    if (!result.model) throw new Error("Train: result without a model");
    return { params, reused: result.reused, model: summariseModel(result.model) };
  } finally {
    reporter.endStage();
  }
}
