// ε-sweep: one model evaluated under one attack at a list of ε values → the robustness curve
// (pixel accuracy, foreground accuracy, mIoU, mean loss and the share of foreground pixels turned
// to background, against ε). ε = 0 is the clean evaluation. Each point is one Evaluate call;
// `cache` (the run folder's) answers points already computed, so an interrupted sweep resumes.
import type { WorkerClient } from "../client/worker-client.js";
import { foregroundToBackground, type SegmentationMetrics } from "../metrics/segmentation-metrics.js";
import { type AttackTarget, attackSpec, type GradientAttackParams, type GradientMethodName } from "../attacks/registry.js";
import { DECIMAL_NUMBER } from "../extensions/option-values.js";
import { evaluateModel, type EvaluateOutcome } from "./evaluate-model.js";
import { type OperationContext, silentReporter } from "./reporter.js";
import type { DistributedParams } from "./distributed.js";

export interface SweepAttack {
  method: GradientMethodName;
  steps?: number | undefined;
  /** Unset: the worker's 2.5·ε/steps at every ε. */
  stepSize?: number | undefined;
  randomStart?: boolean | undefined;
  seed?: number | undefined;
  target: AttackTarget;
}

export interface SweepParams {
  modelId: string;
  datasetId: string;
  attack: SweepAttack;
  /** Ascending after validation; 0 = clean. */
  epsilons: number[];
  /** Transfer: the attack computed against this model (unset: white-box). */
  attackModelId?: string | undefined;
  batchSize?: number | undefined;
  /** Each point's evaluation sharded across torch.distributed processes (the same figures). */
  distributed?: DistributedParams | undefined;
}

export interface SweepPoint {
  epsilon: number;
  pixelAccuracy: number | null;
  foregroundAccuracy: number | null;
  meanIoU: number | null;
  meanDice: number | null;
  meanLoss: number | null;
  /** Share of foreground pixels predicted as background (a background-targeted attack's success). */
  foregroundToBackground: number | null;
  numPixels: number;
  confusion: number[][];
  /** Answered from the run folder's cache. */
  cached: boolean;
}

export interface SweepOutcome {
  modelId: string;
  datasetId: string;
  attackModelId: string | null;
  protocol: "white-box" | "transfer";
  attack: SweepAttack;
  classNames: string[];
  points: SweepPoint[];
}

/** A key/value store for evaluation outcomes (the runner's RunCache fits). */
export interface EvaluationCache {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, inputs: unknown, value: unknown): Promise<void>;
}

export class SweepParamsError extends Error {
  override readonly name = "SweepParamsError";
}

/** "0,0.005,0.01" → [0, 0.005, 0.01]; each in [0, 1], distinct. */
export function parseEpsilons(text: string): number[] {
  const parts = text.split(",").map((p) => p.trim());
  const values = parts.map((p) => {
    const v = Number(p);
    // Decimal notation only, as every number on the command line: Number("0x0") is 0.
    if (!DECIMAL_NUMBER.test(p) || !Number.isFinite(v) || v < 0 || v > 1) throw new SweepParamsError(`epsilons: ${JSON.stringify(p)} is not a number in [0, 1]`);
    return v;
  });
  return checkEpsilons(values);
}

export function checkEpsilons(values: number[]): number[] {
  if (values.length === 0) throw new SweepParamsError("epsilons: give at least one value");
  const sorted = [...values].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) throw new SweepParamsError(`epsilons: ${sorted[i]} appears twice`);
  }
  return sorted;
}

export function gradientAttackAt(attack: SweepAttack, epsilon: number): GradientAttackParams {
  return { ...attack, epsilon };
}

/** The inputs an evaluation is cached by (shared with the runner's evaluation stages). */
export function evaluationCacheInputs(
  p: { modelId: string; datasetId: string; batchSize?: number | undefined; attackModelId?: string | undefined },
  attack: ReturnType<typeof attackSpec> | null,
): Record<string, unknown> {
  const inputs: Record<string, unknown> = { modelId: p.modelId, datasetId: p.datasetId, attack, batchSize: p.batchSize ?? 0 };
  // Only transfer points carry the attack model, so white-box keys equal the runner's evaluation keys.
  if (attack && p.attackModelId && p.attackModelId !== p.modelId) inputs.attackModelId = p.attackModelId;
  return inputs;
}

export async function runSweep(
  client: WorkerClient,
  params: SweepParams,
  context: OperationContext & {
    cache?: EvaluationCache | undefined;
    cacheKey?: ((inputs: unknown) => string) | undefined;
    classNames?: readonly string[] | undefined;
  } = {},
): Promise<SweepOutcome> {
  const reporter = context.reporter ?? silentReporter;
  const epsilons = checkEpsilons(params.epsilons);
  const classNames = context.classNames ?? (await client.getModel(params.modelId, { signal: context.signal, timeoutMs: 30_000 })).classNames;
  const transfer = params.attackModelId !== undefined && params.attackModelId !== params.modelId;
  const points: SweepPoint[] = [];
  for (const [i, epsilon] of epsilons.entries()) {
    reporter.progress({ stage: "sweep", done: i, total: epsilons.length, message: `ε=${epsilon}` });
    const spec = epsilon === 0 ? null : attackSpec(gradientAttackAt(params.attack, epsilon), classNames);
    const inputs = evaluationCacheInputs(params, spec);
    const key = context.cache && context.cacheKey ? context.cacheKey(inputs) : undefined;
    let out = key ? await context.cache?.get<EvaluateOutcome>(key) : undefined;
    const cached = out !== undefined;
    if (!out) {
      out = await evaluateModel(
        client,
        {
          modelId: params.modelId,
          datasetId: params.datasetId,
          batchSize: params.batchSize ?? 0,
          attack: spec ?? undefined,
          attackModelId: spec && transfer ? params.attackModelId : undefined,
          distributed: params.distributed,
        },
        { signal: context.signal, reporter: { progress: (u) => reporter.progress({ ...u, stage: "sweep", message: `ε=${epsilon}` }), endStage: () => {} } },
      );
      if (key) await context.cache?.set(key, inputs, out);
    }
    points.push(pointOf(epsilon, out.metrics, out.confusion, cached));
  }
  reporter.progress({ stage: "sweep", done: epsilons.length, total: epsilons.length, message: "" });
  return {
    modelId: params.modelId,
    datasetId: params.datasetId,
    attackModelId: transfer ? (params.attackModelId ?? null) : null,
    protocol: transfer ? "transfer" : "white-box",
    attack: params.attack,
    classNames: [...classNames],
    points,
  };
}

function pointOf(epsilon: number, m: SegmentationMetrics, confusion: number[][], cached: boolean): SweepPoint {
  return {
    epsilon,
    pixelAccuracy: m.pixelAccuracy,
    foregroundAccuracy: m.foregroundAccuracy,
    meanIoU: m.meanIoU,
    meanDice: m.meanDice,
    meanLoss: m.meanLoss,
    foregroundToBackground: foregroundToBackground(confusion),
    numPixels: m.numPixels,
    confusion,
    cached,
  };
}

/** The curve as a Markdown/plain table. */
export function sweepTableRows(points: readonly SweepPoint[]): string[][] {
  const f = (v: number | null) => (v === null || !Number.isFinite(v) ? "n/a" : v.toFixed(4));
  return points.map((p) => [String(p.epsilon), f(p.pixelAccuracy), f(p.foregroundAccuracy), f(p.meanIoU), f(p.meanLoss), f(p.foregroundToBackground)]);
}
export const SWEEP_TABLE_HEAD = ["ε", "pixel accuracy", "foreground accuracy", "mIoU", "mean loss", "foreground → background"];
