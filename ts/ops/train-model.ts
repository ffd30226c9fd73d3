// Training a model on the worker; per-epoch validation metrics computed here from the
// validation confusion matrices the worker streams back.
import type { WorkerClient } from "../client/worker-client.js";
import type { EpochSummary, ModelInfo, ModelSpec, TrainRequest } from "../generated/robustseg/v1/model.js";
import { confusionFromMessage } from "../metrics/confusion-matrix.js";
import { segmentationMetrics } from "../metrics/segmentation-metrics.js";
import { type AdversarialTrainingParams, adversarialTrainingToProto } from "./adversarial-training.js";
import { upsamplingName, upsamplingToProto, type UpsamplingName } from "./names.js";
import { type OperationContext, silentReporter } from "./reporter.js";

/** Model architectures, one member per backend (more come later). */
export type ModelParams = UNetParams;

export interface UNetParams {
  architecture: "unet";
  depth: number;
  baseWidth: number;
  upsampling: UpsamplingName;
  /** Round inputs to 2^bits levels first (0/absent = off): a gradient-masking model for checks. */
  inputBits?: number | undefined;
}

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
  architecture: { name: string; depth?: number; baseWidth?: number; upsampling?: string };
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

export function modelSpec(model: ModelParams): ModelSpec {
  switch (model.architecture) {
    case "unet":
      return {
        architecture: {
          $case: "unet",
          value: { depth: model.depth, baseWidth: model.baseWidth, upsampling: upsamplingToProto(model.upsampling), inputBits: model.inputBits ?? 0 },
        },
      };
  }
}

export function trainRequest(params: TrainParams): TrainRequest {
  return {
    model: modelSpec(params.model),
    trainDatasetIds: [...params.trainDatasetIds],
    validationDatasetId: params.validationDatasetId,
    config: {
      epochs: params.training.epochs,
      batchSize: params.training.batchSize,
      learningRate: params.training.learningRate,
      seed: params.training.seed,
      augment: params.training.augment,
      adversarial: params.training.adversarial ? adversarialTrainingToProto(params.training.adversarial) : undefined,
    },
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
  const arch = info.spec?.architecture;
  return {
    id: info.id,
    backend: info.backend,
    architecture:
      arch?.$case === "unet"
        ? { name: "unet", depth: arch.value.depth, baseWidth: arch.value.baseWidth, upsampling: upsamplingName(arch.value.upsampling) }
        : { name: info.backend || "unknown" },
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
