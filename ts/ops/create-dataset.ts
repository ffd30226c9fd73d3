// Asking the worker for a dataset (one artifact per split); the same request twice is reused.
import type { WorkerClient } from "../client/worker-client.js";
import { resolve } from "node:path";
import { type CreateDatasetRequest, type DatasetInfo, Fit, KandinskyLabeling } from "../generated/robustseg/v1/data.js";
import { splitName, type SplitName } from "./names.js";
import { type OperationContext, silentReporter } from "./reporter.js";

/** Data sources, one member per source of the contract's DataSource oneof. */
export type DatasetSource = SyntheticHistologyParams | KandinskyParams | PanNukeParams | FolderParams;
export type DatasetSourceName = DatasetSource["source"];
export const DATASET_SOURCES = ["synthetic-histology", "kandinsky", "pannuke", "folder"] as const satisfies readonly DatasetSourceName[];

export const KANDINSKY_LABELINGS = ["shape", "colour", "shape-and-colour"] as const;
export type KandinskyLabelingName = (typeof KANDINSKY_LABELINGS)[number];
/** How tiles of another size are fitted to tileSize: crop (centre) or resize; unset = native size. */
export const FITS = ["crop", "resize"] as const;
export type FitName = (typeof FITS)[number];

export interface SyntheticHistologyParams {
  source: "synthetic-histology";
  tileSize: number;
  numTrain: number;
  numValidation: number;
  numTest: number;
  seed: number;
}

export interface KandinskyParams {
  source: "kandinsky";
  tileSize: number;
  numTrain: number;
  numValidation: number;
  numTest: number;
  seed: number;
  labeling: KandinskyLabelingName;
  /** e.g. "contains a red object" (the worker's default when unset). */
  concept?: string | undefined;
  minObjects?: number | undefined;
  maxObjects?: number | undefined;
}

export interface PanNukeParams {
  source: "pannuke";
  /** Fold folders (absolute or relative to the current directory). */
  trainFolds: string[];
  validationFolds: string[];
  testFolds: string[];
  /** Unset = native (256). */
  tileSize?: number | undefined;
  fit?: FitName | undefined;
  /** 0 / unset = all. */
  maxImagesPerSplit?: number | undefined;
}

export interface FolderParams {
  source: "folder";
  /** One folder split by fractions... */
  path?: string | undefined;
  validationFraction?: number | undefined;
  testFraction?: number | undefined;
  seed?: number | undefined;
  /** ...or one folder per split. */
  trainPath?: string | undefined;
  validationPath?: string | undefined;
  testPath?: string | undefined;
  /** Unset: classes.json in the folder. */
  classNames?: string[] | undefined;
  tileSize?: number | undefined;
  fit?: FitName | undefined;
}

/** The folders a file-based source reads (the worker's --data-root candidates). */
export function sourcePaths(source: DatasetSource): string[] {
  switch (source.source) {
    case "pannuke":
      return [...source.trainFolds, ...source.validationFolds, ...source.testFolds];
    case "folder":
      return [source.path, source.trainPath, source.validationPath, source.testPath].filter((p): p is string => !!p);
    default:
      return [];
  }
}

/** One line: what the source is. */
export function describeSource(source: DatasetSource): string {
  const fit = (s: { tileSize?: number | undefined; fit?: FitName | undefined }) =>
    s.tileSize ? `, ${s.fit ?? "native"} to ${s.tileSize}×${s.tileSize}` : "";
  switch (source.source) {
    case "synthetic-histology":
      return `synthetic-histology ${source.tileSize}×${source.tileSize}, seed ${source.seed}`;
    case "kandinsky":
      return `kandinsky ${source.tileSize}×${source.tileSize}, labels by ${source.labeling}, concept "${source.concept ?? "contains a red object"}", seed ${source.seed}`;
    case "pannuke":
      return `pannuke folds train [${source.trainFolds.join(", ")}], validation [${source.validationFolds.join(", ")}], test [${source.testFolds.join(", ")}]${fit(source)}${source.maxImagesPerSplit ? `, at most ${source.maxImagesPerSplit} per split` : ""}`;
    case "folder":
      return source.path
        ? `folder ${source.path} (validation ${source.validationFraction ?? 0}, test ${source.testFraction ?? 0}, seed ${source.seed ?? 0})${fit(source)}`
        : `folders train ${source.trainPath ?? "-"}, validation ${source.validationPath ?? "-"}, test ${source.testPath ?? "-"}${fit(source)}`;
  }
}

const LABELING: Record<KandinskyLabelingName, KandinskyLabeling> = {
  shape: KandinskyLabeling.KANDINSKY_LABELING_SHAPE,
  colour: KandinskyLabeling.KANDINSKY_LABELING_COLOUR,
  "shape-and-colour": KandinskyLabeling.KANDINSKY_LABELING_SHAPE_AND_COLOUR,
};
const FIT: Record<FitName, Fit> = { crop: Fit.FIT_CENTER_CROP, resize: Fit.FIT_RESIZE };
const fitOf = (f: FitName | undefined): Fit => (f ? FIT[f] : Fit.FIT_UNSPECIFIED);

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
    case "kandinsky":
      return {
        source: {
          source: {
            $case: "kandinsky",
            value: {
              tileSize: source.tileSize,
              numTrain: source.numTrain,
              numValidation: source.numValidation,
              numTest: source.numTest,
              seed: source.seed,
              labeling: LABELING[source.labeling],
              minObjects: source.minObjects ?? 0,
              maxObjects: source.maxObjects ?? 0,
              concept: source.concept ?? "",
            },
          },
        },
      };
    case "pannuke":
      return {
        source: {
          source: {
            $case: "pannuke",
            value: {
              trainFolds: source.trainFolds.map(abs),
              validationFolds: source.validationFolds.map(abs),
              testFolds: source.testFolds.map(abs),
              tileSize: source.tileSize ?? 0,
              fit: fitOf(source.fit),
              maxImagesPerSplit: source.maxImagesPerSplit ?? 0,
            },
          },
        },
      };
    case "folder":
      return {
        source: {
          source: {
            $case: "folder",
            value: {
              path: source.path ? abs(source.path) : "",
              classNames: source.classNames ?? [],
              validationFraction: source.validationFraction ?? 0,
              testFraction: source.testFraction ?? 0,
              seed: source.seed ?? 0,
              tileSize: source.tileSize ?? 0,
              fit: fitOf(source.fit),
              trainPath: source.trainPath ? abs(source.trainPath) : "",
              validationPath: source.validationPath ? abs(source.validationPath) : "",
              testPath: source.testPath ? abs(source.testPath) : "",
            },
          },
        },
      };
  }
}

const abs = (p: string): string => resolve(p);

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
