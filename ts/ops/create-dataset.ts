// Asking the worker for a dataset (one artifact per split); the same request twice is reused.
import type { WorkerClient } from "../client/worker-client.js";
import { type DatasetSource, dataSourceToProto } from "../data-sources/registry.js";
import type { CreateDatasetRequest, DatasetInfo } from "../generated/robustseg/v1/data.js";
import { splitName, type SplitName } from "./names.js";
import { type OperationContext, silentReporter } from "./reporter.js";

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
  /** What the image-level tags mean ("tissue", "concept"); absent when the source has none. */
  tagName?: string | undefined;
  /** Images per tag value (e.g. tissue type), most frequent first. */
  tagCounts?: Record<string, number> | undefined;
}

export interface CreateDatasetOutcome {
  source: DatasetSource;
  /** Every split already existed in the workspace. */
  reused: boolean;
  datasets: DatasetSummary[];
}

export function createDatasetRequest(source: DatasetSource): CreateDatasetRequest {
  return { source: dataSourceToProto(source) };
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
    ...(info.tagName ? { tagName: info.tagName, tagCounts: tagCounts(info.imageTags) } : {}),
  };
}

/** Images per tag value, most frequent first (ties by name). */
export function tagCounts(tags: readonly string[]): Record<string, number> {
  const m = new Map<string, number>();
  for (const t of tags) m.set(t, (m.get(t) ?? 0) + 1);
  return Object.fromEntries([...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
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
