// The worst case over an attack ensemble (SEA, Croce, Singh, Hein 2024): the worker runs every
// member on every image and keeps, per image, the member that leaves the lowest foreground
// accuracy; it returns each member's confusion matrix and the worst case's. Metrics are computed
// here from those counts, as for any evaluation.
import type { WorkerClient } from "../client/worker-client.js";
import type { AttackSpec } from "../generated/robustseg/v1/attack.js";
import type { EvaluateResult } from "../generated/robustseg/v1/model.js";
import { confusionFromMessage, toRows } from "../metrics/confusion-matrix.js";
import { type SegmentationMetrics, segmentationMetrics } from "../metrics/segmentation-metrics.js";
import { type OperationContext, silentReporter } from "./reporter.js";
import { float64Values } from "./tensors.js";
import { type DistributedParams, distributedMessage } from "./distributed.js";

export interface WorstCaseParams {
  modelId: string;
  datasetId: string;
  members: AttackSpec[];
  /** 0 = the worker's default. */
  batchSize?: number | undefined;
  /** The model the members attack (unset = modelId: white-box). */
  attackModelId?: string | undefined;
  /** Share the batches among torch.distributed processes (the same figures as one process). */
  distributed?: DistributedParams | undefined;
}

export interface CountsOutcome {
  numImages: number;
  numPixels: number;
  metrics: SegmentationMetrics;
  /** Rows = true class, columns = predicted class. */
  confusion: number[][];
}

export interface WorstCaseOutcome {
  modelId: string;
  datasetId: string;
  classNames: string[];
  worstCase: CountsOutcome;
  /** Each member alone, in request order. */
  members: CountsOutcome[];
  /** Per image (dataset order): the member its worst case came from. */
  chosenMember: number[];
  /** How many images each member was the worst case for. */
  chosenCounts: number[];
  /** [member][image]: the selection key (foreground accuracy; pixel accuracy for an image without foreground). */
  imageScores: number[][];
}

function counts(result: EvaluateResult | undefined, classNames: readonly string[], what: string): CountsOutcome {
  if (!result) throw new Error(`EvaluateWorstCase: ${what} is missing`);
  const confusion = confusionFromMessage(result.confusion, `EvaluateWorstCase ${what} confusion matrix`);
  const metrics = segmentationMetrics(confusion, { classNames, meanLoss: result.meanLoss });
  if (metrics.numPixels !== result.numPixels) throw new Error(`EvaluateWorstCase: ${what} holds ${metrics.numPixels} pixels, num_pixels says ${result.numPixels}`);
  return { numImages: result.numImages, numPixels: result.numPixels, metrics, confusion: toRows(confusion) };
}

export async function evaluateWorstCase(client: WorkerClient, params: WorstCaseParams, context: OperationContext = {}): Promise<WorstCaseOutcome> {
  const reporter = context.reporter ?? silentReporter;
  const model = await client.getModel(params.modelId, { signal: context.signal, timeoutMs: 30_000 });
  try {
    const result = await client.evaluateWorstCaseResult(
      {
        modelId: params.modelId,
        datasetId: params.datasetId,
        batchSize: params.batchSize ?? 0,
        members: params.members,
        attackModelId: params.attackModelId ?? "",
        distributed: distributedMessage(params.distributed),
      },
      {
        signal: context.signal,
        onProgress: (p) => reporter.progress({ stage: p.stage || "worst-case", done: p.done, total: p.total, message: p.message }),
      },
    );
    const m = params.members.length;
    if (result.members.length !== m) throw new Error(`EvaluateWorstCase: ${result.members.length} member results for ${m} members`);
    const worstCase = counts(result.worstCase, model.classNames, "worst case");
    const n = worstCase.numImages;
    if (result.chosenMember.length !== n) throw new Error(`EvaluateWorstCase: ${result.chosenMember.length} chosen members for ${n} images`);
    const scores = float64Values(result.imageScores, m * n, "EvaluateWorstCase image_scores");
    const chosenCounts = new Array<number>(m).fill(0);
    for (const k of result.chosenMember) chosenCounts[k] = (chosenCounts[k] ?? 0) + 1;
    return {
      modelId: params.modelId,
      datasetId: params.datasetId,
      classNames: [...model.classNames],
      worstCase,
      members: result.members.map((r, i) => counts(r, model.classNames, `member ${i}`)),
      chosenMember: [...result.chosenMember],
      chosenCounts,
      imageScores: Array.from({ length: m }, (_, i) => Array.from(scores.subarray(i * n, (i + 1) * n))),
    };
  } finally {
    reporter.endStage();
  }
}
