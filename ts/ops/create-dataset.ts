// Asking the worker for a dataset (one artifact per split); the same request twice is reused.
import type { WorkerClient } from "../client/worker-client.js";
import type { CreateDatasetRequest, DatasetInfo } from "../generated/robustseg/v1/data.js";
import { splitName, type SplitName } from "./names.js";
import { type OperationContext, silentReporter } from "./reporter.js";

/** Data sources, one member per source (kandinsky, pannuke, folder come later). */
export type DatasetSource = SyntheticHistologyParams;

export interface SyntheticHistologyParams {
  source: "synthetic-histology";
  tileSize: number;
  numTrain: number;
  numValidation: number;
  numTest: number;
  seed: number;
}

export interface DatasetSummary {
  id: string;
  split: SplitName;
  source: string;
  numImages: number;
  height: number;
  width: number;
  channels: number;
  classNames: string[];
  classPixelCounts: number[];
  /** classPixelCounts over their sum (0..1); all 0 for an empty dataset. */
  classShares: number[];
}

export interface CreateDatasetOutcome {
  source: DatasetSource;
  /** Every split already existed in the workspace. */
  reused: boolean;
  datasets: DatasetSummary[];
}

export function createDatasetRequest(source: DatasetSource): CreateDatasetRequest {
  switch (source.source) {
    case "synthetic-histology":
      return {
        source: {
          source: {
            $case: "syntheticHistology",
            value: {
              tileSize: source.tileSize,
              numTrain: source.numTrain,
              numValidation: source.numValidation,
              numTest: source.numTest,
              seed: source.seed,
            },
          },
        },
      };
  }
}

export function summariseDataset(info: DatasetInfo): DatasetSummary {
  const counts = [...info.classPixelCounts];
  const total = counts.reduce((a, b) => a + b, 0);
  return {
    id: info.id,
    split: splitName(info.split),
    source: info.source,
    numImages: info.numImages,
    height: info.height,
    width: info.width,
    channels: info.channels,
    classNames: [...info.classNames],
    classPixelCounts: counts,
    classShares: counts.map((n) => (total === 0 ? 0 : n / total)),
  };
}

export async function createDataset(
  client: WorkerClient,
  source: DatasetSource,
  context: OperationContext = {},
): Promise<CreateDatasetOutcome> {
  const reporter = context.reporter ?? silentReporter;
  try {
    const result = await client.createDatasetResult(createDatasetRequest(source), {
      signal: context.signal,
      onProgress: (p) =>
        reporter.progress({ stage: p.stage || "dataset", done: p.done, total: p.total, message: p.message }),
    });
    return { source, reused: result.reused, datasets: result.datasets.map(summariseDataset) };
  } finally {
    reporter.endStage();
  }
}

/** The dataset of a split in an outcome; throws when the worker made none for it. */
export function datasetOfSplit(outcome: CreateDatasetOutcome, split: SplitName): DatasetSummary {
  const found = outcome.datasets.find((d) => d.split === split);
  if (!found) throw new Error(`the worker returned no ${split} split`);
  return found;
}
