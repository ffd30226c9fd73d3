// Evaluating a model on a dataset: the worker returns the confusion matrix and mean loss, the
// metrics are computed here.
import type { WorkerClient } from "../client/worker-client.js";
import type { AttackSpec } from "../generated/robustseg/v1/attack.js";
import { confusionFromMessage, toRows } from "../metrics/confusion-matrix.js";
import { type SegmentationMetrics, segmentationMetrics } from "../metrics/segmentation-metrics.js";
import { type DistributedParams, distributedMessage } from "./distributed.js";
import { type OperationContext, silentReporter } from "./reporter.js";

export interface EvaluateParams {
  modelId: string;
  datasetId: string;
  /** 0 = the worker's default. */
  batchSize?: number | undefined;
  /** Evaluate under this attack, computed on the fly (unset = clean). */
  attack?: AttackSpec | undefined;
  /** The model the attack is computed against (unset = modelId: white-box; another id: transfer). */
  attackModelId?: string | undefined;
  /** Share the batches among torch.distributed processes (the same counts as one process). */
  distributed?: DistributedParams | undefined;
}

export interface EvaluateOutcome {
  modelId: string;
  datasetId: string;
  numImages: number;
  numPixels: number;
  classNames: string[];
  metrics: SegmentationMetrics;
  /** Rows = true class, columns = predicted class. */
  confusion: number[][];
}

export async function evaluateModel(client: WorkerClient, params: EvaluateParams, context: OperationContext = {}): Promise<EvaluateOutcome> {
  const reporter = context.reporter ?? silentReporter;
  // Class names live with the model; asking first also turns an unknown id into NOT_FOUND early.
  const model = await client.getModel(params.modelId, { signal: context.signal, timeoutMs: 30_000 });
  try {
    const result = await client.evaluateResult(
      {
        modelId: params.modelId,
        datasetId: params.datasetId,
        batchSize: params.batchSize ?? 0,
        attack: params.attack,
        attackModelId: params.attackModelId ?? "",
        distributed: distributedMessage(params.distributed),
      },
      {
        signal: context.signal,
        onProgress: (p) => reporter.progress({ stage: p.stage || "evaluate", done: p.done, total: p.total, message: p.message }),
      },
    );
    const confusion = confusionFromMessage(result.confusion, "Evaluate confusion matrix");
    const metrics = segmentationMetrics(confusion, { classNames: model.classNames, meanLoss: result.meanLoss });
    if (metrics.numPixels !== result.numPixels) {
      throw new Error(`Evaluate: confusion matrix holds ${metrics.numPixels} pixels, num_pixels says ${result.numPixels}`);
    }
    return {
      modelId: params.modelId,
      datasetId: params.datasetId,
      numImages: result.numImages,
      numPixels: result.numPixels,
      classNames: [...model.classNames],
      metrics,
      confusion: toRows(confusion),
    };
  } finally {
    reporter.endStage();
  }
}
