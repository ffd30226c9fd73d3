// results.json: everything a run produced, in one document (its schema is in README.md under
// "results.json"). Built by the runner; read back by `robustseg report` later (issue 5).
import type { SegmentationMetrics } from "../metrics/segmentation-metrics.js";
import type { AttackParams } from "../attacks/registry.js";
import type { DatasetSummary } from "../ops/create-dataset.js";
import type { SweepAttack, SweepPoint } from "../ops/sweep.js";
import type { EpochRow } from "../ops/train-model.js";
import type { SelectionAggregate } from "../selection/record.js";
import type { DatasetRole, EvaluationProtocol, ModelName } from "./plan.js";

export const RESULTS_SCHEMA = "robustseg.results/v1";

export interface EnvironmentInfo {
  cli: string;
  node: string;
  platform: string;
  worker: { version: string; device: string; deviceType: string; torch: string; threads: number };
}

export interface DatasetResult extends DatasetSummary {
  role: DatasetRole;
  /** What made it, in words. */
  madeBy: string;
  reused: boolean;
  /** Built datasets (D1, D2, test-transfer): mean and largest L∞ distance to the clean images. */
  meanLinf?: number | undefined;
  maxLinf?: number | undefined;
}

export interface ModelResult {
  name: ModelName;
  id: string;
  trainedOn: DatasetRole[];
  trainDatasetIds: string[];
  epochs: number;
  reused: boolean;
  /** The model backend ("unet", "smp", "monai") and the model in one line (absent in runs before issue 8). */
  backend?: string | undefined;
  description?: string | undefined;
  numParameters: number;
  bestEpoch: number;
  bestValidationLoss: number;
  /** Per epoch: train and validation loss, validation metrics (paper Figure 4). */
  history: EpochRow[];
}

export interface EvaluationResult {
  model: ModelName;
  modelId: string;
  protocol: EvaluationProtocol;
  dataset: DatasetRole;
  datasetId: string;
  /** The attack computed on the fly (white-box) or used to build the transfer set; null when clean. */
  attack: AttackParams | null;
  /** The model the attack was computed against (null when clean). */
  attackModel: ModelName | null;
  numImages: number;
  numPixels: number;
  metrics: SegmentationMetrics;
  /** Share of foreground pixels (truth ≠ background) predicted as background. */
  foregroundToBackground: number | null;
  /** Rows = true class, columns = predicted. */
  confusion: number[][];
  /** Answered from the run folder's cache. */
  cached: boolean;
}

/** One robustness curve: a model evaluated under one attack at each ε (ε = 0: clean). */
export interface SweepResult {
  /** The stage id, e.g. "sweep-1-M1". */
  id: string;
  /** Index into the spec's sweeps. */
  sweep: number;
  model: ModelName;
  modelId: string;
  dataset: DatasetRole;
  datasetId: string;
  protocol: "white-box" | "transfer";
  /** The model the attack was computed against. */
  attackModel: ModelName;
  /** The attack without its ε. */
  attack: SweepAttack;
  classNames: string[];
  /** Ascending ε: pixel accuracy, foreground accuracy, mIoU, mean loss, foreground → background, confusion. */
  points: SweepPoint[];
  /** The curve's file in the run folder. */
  file: string;
}

export interface StageTiming {
  id: string;
  label: string;
  kind: string;
  seconds: number;
  /** The worker reused the artifact, or the run folder's cache answered. */
  reused: boolean;
  attempts: number;
}

export interface MethodTwoResult {
  strategy: string;
  epsilon: number;
  project: boolean;
  recordFile: string;
  aggregateFile: string;
  aggregate: SelectionAggregate;
  scorerCalls: number;
  candidatesScored: number;
  cached: boolean;
}

export interface ExperimentResults {
  schema: typeof RESULTS_SCHEMA;
  name: string;
  runDir: string;
  startedAt: string;
  finishedAt: string;
  /** The spec actually used (also in spec.json). */
  spec: unknown;
  environment: EnvironmentInfo;
  classNames: string[];
  datasets: DatasetResult[];
  models: ModelResult[];
  evaluations: EvaluationResult[];
  methodTwo: MethodTwoResult;
  /** ε-sweep curves, one per sweep and model (each also in sweeps/<id>.json). */
  sweeps: SweepResult[];
  stages: StageTiming[];
  totalSeconds: number;
}

/** The first column's title of the paper's tables: "U-Net" (the paper's) unless another backend made the models. */
export function modelColumnTitle(results: Pick<ExperimentResults, "models">): string {
  return results.models.every((m) => (m.backend ?? "unet") === "unet") ? "U-Net" : "model";
}
