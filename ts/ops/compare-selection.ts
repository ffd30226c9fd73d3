// Greedy, beam and surrogate against exhaustive on the same images of a dataset, scored by the
// worker (`robustseg compare-selection`). Exhaustive scores all 3^C candidates once; the other
// strategies are answered from those very losses, so they see the same numbers (the surrogate's
// estimates come from the worker: they are not losses exhaustive scored).
import type { WorkerClient } from "../client/worker-client.js";
import { runSelectionComparison, type SelectionComparison } from "../selection/compare.js";
import { type SelectionStrategy, strategyLabel } from "../selection/strategies.js";
import { type OperationContext, silentReporter } from "./reporter.js";
import { workerEstimator, workerScorer } from "./score-candidates.js";

export interface CompareSelectionParams {
  modelId: string;
  datasetId: string;
  epsilon: number;
  project: boolean;
  /** The first N images of the dataset (all when unset or larger). */
  images?: number | undefined;
  strategies: SelectionStrategy[];
}

export interface CompareSelectionOutcome {
  modelId: string;
  datasetId: string;
  epsilon: number;
  project: boolean;
  strategies: string[];
  comparison: SelectionComparison;
  /** Seconds per strategy (exhaustive includes the worker's scoring; the others replay its losses). */
  seconds: Record<string, number>;
}

export async function compareSelection(
  client: WorkerClient,
  params: CompareSelectionParams,
  context: OperationContext = {},
): Promise<CompareSelectionOutcome> {
  const reporter = context.reporter ?? silentReporter;
  const [dataset, model] = await Promise.all([
    client.getDataset(params.datasetId, { signal: context.signal, timeoutMs: 30_000 }),
    client.getModel(params.modelId, { signal: context.signal, timeoutMs: 30_000 }),
  ]);
  const classCount = model.classNames.length;
  const n = Math.min(params.images ?? dataset.numImages, dataset.numImages);
  try {
    const run = await runSelectionComparison(workerScorer(client, { ...params, classCount }), {
      classCount,
      estimator: workerEstimator(client, { ...params, classCount }),
      imageIndices: Array.from({ length: n }, (_, i) => i),
      strategies: params.strategies,
      signal: context.signal,
      onProgress: (p) =>
        reporter.progress({ stage: "compare selection", done: 0, total: 0, message: `${p.candidatesScored} candidates scored` }),
    });
    return {
      modelId: params.modelId,
      datasetId: params.datasetId,
      epsilon: params.epsilon,
      project: params.project,
      strategies: params.strategies.map(strategyLabel),
      comparison: run.comparison,
      seconds: Object.fromEntries(Object.entries(run.wallMs).map(([k, v]) => [k, Math.round(v) / 1000])),
    };
  } finally {
    reporter.endStage();
  }
}
