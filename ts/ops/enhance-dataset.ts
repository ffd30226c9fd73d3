// Method two end to end (docs/ARCHITECTURE.md section 9): choose a sign vector per image with a selection
// strategy over the worker's scorer, record every choice (JSONL + aggregate), then build the
// dataset of x_{s*} on the worker. Choosing and building are separate steps so that the
// experiment runner can cache the (control-plane) choice in its run folder.
import { join } from "node:path";
import type { WorkerClient } from "../client/worker-client.js";
import { aggregateSelection, type SelectionAggregate, type SelectionRecord, toSelectionRecords, writeSelectionRecords } from "../selection/record.js";
import { selectSigns, type SelectionStrategy, strategyLabel } from "../selection/strategies.js";
import { buildOutcome, type DatasetBuildOutcome } from "./attack-dataset.js";
import { type DistributedParams, distributedMessage } from "./distributed.js";
import { type OperationContext, silentReporter } from "./reporter.js";
import { workerEstimator, workerScorer } from "./score-candidates.js";
import { int8Tensor } from "./tensors.js";
import { writeJsonAtomic } from "../files/atomic.js";
import { checkOutputKind } from "../files/output-target.js";

export interface MethodTwoParams {
  modelId: string;
  datasetId: string;
  epsilon: number;
  /** Also project x_s onto the ε-ball around x. */
  project: boolean;
  strategy: SelectionStrategy;
  /** Candidates per ScoreCandidates call (default 4096). */
  maxCandidatesPerRequest?: number | undefined;
  /** Scoring and building on several torch.distributed processes (the same choice and dataset). */
  distributed?: DistributedParams | undefined;
}

export interface MethodTwoChoice {
  params: MethodTwoParams;
  strategy: string;
  classNames: string[];
  /** One per image of the dataset, in index order. */
  records: SelectionRecord[];
  aggregate: SelectionAggregate;
  scorerCalls: number;
  rounds: number;
  candidatesScored: number;
}

/** Runs the strategy over every image of the dataset. */
export async function chooseMethodTwoSigns(client: WorkerClient, params: MethodTwoParams, context: OperationContext = {}): Promise<MethodTwoChoice> {
  const reporter = context.reporter ?? silentReporter;
  const [dataset, model] = await Promise.all([
    client.getDataset(params.datasetId, { signal: context.signal, timeoutMs: 30_000 }),
    client.getModel(params.modelId, { signal: context.signal, timeoutMs: 30_000 }),
  ]);
  const classNames = [...model.classNames];
  const classCount = classNames.length;
  const n = dataset.numImages;
  const label = strategyLabel(params.strategy);
  try {
    reporter.progress({ stage: "method two", done: 0, total: 0, message: `${label}: scoring candidates` });
    const run = await selectSigns(workerScorer(client, { ...params, classCount }), {
      classCount,
      estimator: workerEstimator(client, { ...params, classCount }),
      imageIndices: Array.from({ length: n }, (_, i) => i),
      strategy: params.strategy,
      signal: context.signal,
      ...(params.maxCandidatesPerRequest ? { maxCandidatesPerRequest: params.maxCandidatesPerRequest } : {}),
      onProgress: (p) =>
        reporter.progress({
          stage: "method two",
          done: 0,
          total: 0,
          message: `${label}: round ${p.round}, ${p.candidatesScored} candidates scored`,
        }),
    });
    const records = toSelectionRecords(run, classNames);
    return {
      params,
      strategy: label,
      classNames,
      records,
      aggregate: aggregateSelection(records, classNames),
      scorerCalls: run.scorerCalls,
      rounds: run.rounds,
      candidatesScored: run.candidatesScored,
    };
  } finally {
    reporter.endStage();
  }
}

/** The signs of records (index order 0..N-1) as the int8 (N, C) rows the worker wants. */
export function signsMatrix(records: readonly SelectionRecord[], classCount: number): Int8Array {
  const data = new Int8Array(records.length * classCount);
  const sorted = [...records].sort((a, b) => a.index - b.index);
  sorted.forEach((r, i) => {
    if (r.index !== i) throw new Error(`method-two record: expected image ${i}, found ${r.index}`);
    data.set(r.signs, i * classCount);
  });
  return data;
}

/** Builds the enhanced dataset from one chosen sign vector per image. */
export async function buildEnhancedDataset(
  client: WorkerClient,
  params: Pick<MethodTwoParams, "modelId" | "datasetId" | "epsilon" | "project" | "distributed">,
  records: readonly SelectionRecord[],
  classCount: number,
  context: OperationContext = {},
): Promise<DatasetBuildOutcome> {
  const reporter = context.reporter ?? silentReporter;
  try {
    const result = await client.buildEnhancedDatasetResult(
      {
        modelId: params.modelId,
        datasetId: params.datasetId,
        epsilon: params.epsilon,
        project: params.project,
        signs: int8Tensor(signsMatrix(records, classCount), records.length, classCount),
        batchSize: 0,
        distributed: distributedMessage(params.distributed),
      },
      {
        signal: context.signal,
        onProgress: (p) => reporter.progress({ stage: p.stage || "build", done: p.done, total: p.total, message: p.message }),
      },
    );
    return buildOutcome(result, "BuildEnhancedDataset");
  } finally {
    reporter.endStage();
  }
}

export interface EnhanceOutcome extends DatasetBuildOutcome {
  choice: Omit<MethodTwoChoice, "records">;
  /** Where the JSONL record and the aggregate were written (when an output folder was given). */
  recordFile?: string | undefined;
  aggregateFile?: string | undefined;
}

export const CHOICES_FILE = "method-two-choices.jsonl";
export const AGGREGATE_FILE = "method-two-aggregate.json";

/** Method two end to end; with `outDir`, writes the record and its aggregate there. */
export async function enhanceDataset(
  client: WorkerClient,
  params: MethodTwoParams & { outDir?: string | undefined },
  context: OperationContext = {},
): Promise<EnhanceOutcome> {
  // Before the scoring: the record's folder must be a folder (or nothing yet), never a device.
  if (params.outDir) checkOutputKind("--out", params.outDir, "folder");
  const choice = await chooseMethodTwoSigns(client, params, context);
  let recordFile: string | undefined;
  let aggregateFile: string | undefined;
  if (params.outDir) {
    recordFile = join(params.outDir, CHOICES_FILE);
    aggregateFile = join(params.outDir, AGGREGATE_FILE);
    await writeSelectionRecords(recordFile, choice.records);
    await writeJsonAtomic(aggregateFile, choice.aggregate);
  }
  const built = await buildEnhancedDataset(client, params, choice.records, choice.classNames.length, context);
  const { records: _records, ...summary } = choice;
  return { ...built, choice: summary, recordFile, aggregateFile };
}
