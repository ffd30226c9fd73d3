// results.json: everything a run produced, in one document (its schema is in README.md under
// "results.json"). Built by the runner; read back by `robustseg report` later.
import type { SegmentationMetrics } from "../metrics/segmentation-metrics.js";
import type { AttackParams } from "../attacks/registry.js";
import type { DatasetSummary } from "../ops/create-dataset.js";
import type { SweepAttack, SweepPoint } from "../ops/sweep.js";
import type { EpochRow } from "../ops/train-model.js";
import type { SelectionAggregate } from "../selection/record.js";
import type { DatasetRole, EvaluationProtocol, ModelName, TrustEvaluationCheck } from "./plan.js";
import type { AggregateRow, AggregateSweepPoint } from "./seed-aggregate.js";
import type { TrustCheckResult, TrustOptions } from "./trust-checks.js";
import type { IntervalSummary } from "../metrics/intervals.js";

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
  /** The model backend ("unet", "smp", "monai") and the model in one line (absent in runs made before there was more than one backend). */
  backend?: string | undefined;
  description?: string | undefined;
  numParameters: number;
  bestEpoch: number;
  bestValidationLoss: number;
  /** Per epoch: train and validation loss, validation metrics (paper Figure 4). */
  history: EpochRow[];
  /** An adversarial-training baseline: how each batch was attacked ("PGD-AT ε = 0.01, 3 steps, random start"). */
  adversarialTraining?: string | undefined;
}

export interface EvaluationResult {
  model: ModelName;
  modelId: string;
  protocol: EvaluationProtocol;
  dataset: DatasetRole;
  datasetId: string;
  /** The attack computed on the fly (white-box) or used to build the transfer set; null when clean and for the worst case (see `worstCase`). */
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

/** One member of the worst-case ensemble, evaluated alone. */
export interface WorstCaseMemberResult {
  label: string;
  attack: AttackParams;
  metrics: SegmentationMetrics;
  foregroundToBackground: number | null;
  confusion: number[][];
  /** Images whose worst case this member was. */
  chosenImages: number;
}

/** The worst-case protocol for one model: each member's figures and, per image, the worst. */
export interface WorstCaseResult {
  model: ModelName;
  modelId: string;
  dataset: DatasetRole;
  datasetId: string;
  members: WorstCaseMemberResult[];
  /** The worst case's metrics are in `evaluations` (protocol worst-case); per image, the member its worst case came from. */
  chosenMember: number[];
  cached: boolean;
}

/** The trust checks' own evaluations: the evaluation attack at a large ε, and with more steps. */
export interface TrustEvaluationResult {
  model: ModelName;
  modelId: string;
  check: TrustEvaluationCheck;
  attack: AttackParams;
  metrics: SegmentationMetrics;
  foregroundToBackground: number | null;
  cached: boolean;
}

export interface TrustResults {
  options: TrustOptions;
  evaluations: TrustEvaluationResult[];
  /** Every check that could run, flagged or not. */
  checks: TrustCheckResult[];
  flagged: number;
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
  /** The worst-case protocol, one per model (empty without it). */
  worstCase?: WorstCaseResult[] | undefined;
  /** The trust checks (signs of gradient masking or a weak attack). */
  trust?: TrustResults | undefined;
  stages: StageTiming[];
  totalSeconds: number;
  /** The training seed of this run (spec.training.seed). */
  seed?: number | undefined;
  /**
   * A run over several seeds (spec `seeds`): the seeds, each seed's tables, and the aggregate.
   * The other fields are the first seed's, so a reader of one run reads this one too; every
   * seed's full run folder is `seeds/seed-<s>/`.
   */
  series?: SeriesResults | undefined;
}

/** One seed's tables, as kept in the series' results.json. */
export interface SeedRunResult {
  seed: number;
  /** The seed's run folder (relative to the series' run folder). */
  runDir: string;
  /** Read back from the seed's finished run instead of run. */
  cached: boolean;
  totalSeconds: number;
  models: Pick<ModelResult, "name" | "id" | "bestEpoch" | "bestValidationLoss" | "epochs">[];
  evaluations: EvaluationResult[];
  worstCase: WorstCaseResult[];
  sweeps: SweepResult[];
  trust: TrustResults | null;
}

/** One ensemble member's foreground accuracy over seeds, per model (beside the worst case's). */
export interface AggregateWorstCaseRow {
  model: ModelName;
  labels: string[];
  members: IntervalSummary[];
  worstCase: IntervalSummary;
  /** Images each member was the worst case for, summed over seeds. */
  chosen: number[];
}

/** Foreground accuracy lost under an attack protocol (clean − attacked), per model over seeds. */
export interface AggregateDropRow {
  model: ModelName;
  protocol: EvaluationProtocol;
  drop: IntervalSummary;
  /** This model's drop minus M1's, paired by seed (null for M1): negative = loses less than M1. */
  differenceToReference: IntervalSummary | null;
}

export interface SeriesResults {
  seeds: number[];
  varyData: boolean;
  runs: SeedRunResult[];
  aggregate: {
    /** Per model and protocol: mean, sd and 95% t-interval of each metric, and the paired difference to M1. */
    evaluations: AggregateRow[];
    /** Per sweep and ε, the same for each point. */
    sweeps: AggregateSweepPoint[];
    worstCase: AggregateWorstCaseRow[];
    /** Foreground accuracy lost under each attack protocol, and its paired difference to M1's. */
    drops: AggregateDropRow[];
    /** Every flagged trust check of every seed. */
    trustFlags: (TrustCheckResult & { seed: number })[];
    trustChecks: number;
  };
}

/** The first column's title of the paper's tables: "U-Net" (the paper's) unless another backend made the models. */
export function modelColumnTitle(results: Pick<ExperimentResults, "models">): string {
  return results.models.every((m) => (m.backend ?? "unet") === "unet") ? "U-Net" : "model";
}
