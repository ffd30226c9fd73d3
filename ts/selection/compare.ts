// Greedy and beam against exhaustive on the same images: how often they find the optimum, how
// far they miss it, and what they cost (`robustseg compare-selection` prints this object).

import {
  DEFAULT_TIE_TOLERANCE,
  exhaustiveCandidateCount,
  lossImproves,
  SelectionError,
  signKey,
  type TieTolerance,
} from "./signs.js";
import type { CandidateEstimator, CandidateScorer, ScoringOptions } from "./scoring.js";
import {
  selectSigns,
  strategyLabel,
  type ImageSelection,
  type SelectionRun,
  type SelectionStrategy,
} from "./strategies.js";

export interface StrategyComparison {
  readonly strategy: string;
  readonly images: number;
  /** Images where the strategy's chosen loss is not worse than exhaustive's beyond the tolerance. */
  readonly optimumFound: number;
  readonly optimumShare: number;
  /** Images where it chose exactly exhaustive's s*. */
  readonly sameSigns: number;
  readonly sameSignsShare: number;
  /** chosen − optimum over images (≥ 0 up to the tolerance); null without images. */
  readonly meanLossGap: number | null;
  readonly maxLossGap: number | null;
  /** Σ(clean − chosen) / Σ(clean − optimum): the share of exhaustive's loss reduction it reaches (null when exhaustive reduces nothing). */
  readonly reductionCaptured: number | null;
  readonly meanCandidatesScored: number | null;
  /** meanCandidatesScored / 3^C. */
  readonly candidateShare: number | null;
  readonly scorerCalls: number;
  readonly rounds: number;
  /** Greedy only: mean sweeps per image, and images stopped by the sweep cap before converging. */
  readonly meanSweeps?: number | null;
  readonly unconverged?: number;
  /** Surrogate only: mean centres per image, and mean candidates estimated (not scored) per image. */
  readonly meanCentres?: number | null;
  readonly meanEstimated?: number | null;
}

export interface SelectionComparison {
  readonly classCount: number;
  readonly images: number;
  /** 3^C. */
  readonly exhaustiveCandidates: number;
  readonly tolerance: TieTolerance;
  readonly exhaustive: {
    readonly meanCleanLoss: number | null;
    readonly meanChosenLoss: number | null;
    readonly meanLossReduction: number | null;
    readonly imagesChanged: number;
    readonly scorerCalls: number;
    readonly rounds: number;
  };
  readonly strategies: StrategyComparison[];
}

const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;

function runOf(run: SelectionRun | readonly ImageSelection[]): {
  strategy: string;
  results: readonly ImageSelection[];
  scorerCalls: number;
  rounds: number;
} {
  if ("results" in run) return run;
  return { strategy: run[0]?.strategy ?? "?", results: run, scorerCalls: 0, rounds: 0 };
}

/**
 * Compares finished runs with the exhaustive run on the same images (matched by image index;
 * every image of the optimum must appear in each run).
 */
export function compareSelections(
  optimumRun: SelectionRun | readonly ImageSelection[],
  runs: readonly (SelectionRun | readonly ImageSelection[])[],
  classCount: number,
  tolerance: TieTolerance = DEFAULT_TIE_TOLERANCE,
): SelectionComparison {
  const opt = runOf(optimumRun);
  const strategies = runs.map((raw): StrategyComparison => {
    const run = runOf(raw);
    const byIndex = new Map(run.results.map((r) => [r.index, r]));
    let found = 0;
    let same = 0;
    let reached = 0;
    let possible = 0;
    const gaps: number[] = [];
    const counts: number[] = [];
    for (const o of opt.results) {
      const r = byIndex.get(o.index);
      if (r === undefined) throw new SelectionError(`${run.strategy} has no result for image ${o.index}`);
      if (!lossImproves(o.chosenLoss, r.chosenLoss, tolerance)) found++;
      if (signKey(r.signs) === signKey(o.signs)) same++;
      gaps.push(r.chosenLoss - o.chosenLoss);
      counts.push(r.candidatesScored);
      reached += o.cleanLoss - r.chosenLoss;
      possible += o.cleanLoss - o.chosenLoss;
    }
    const n = opt.results.length;
    const meanCount = mean(counts);
    const sweeps = run.results.flatMap((r) => (r.sweeps === undefined ? [] : [r.sweeps]));
    const greedyStats =
      sweeps.length > 0
        ? { meanSweeps: mean(sweeps), unconverged: run.results.filter((r) => r.converged === false).length }
        : {};
    const centres = run.results.flatMap((r) => (r.centres === undefined ? [] : [r.centres]));
    const surrogateStats =
      centres.length > 0
        ? { meanCentres: mean(centres), meanEstimated: mean(run.results.map((r) => r.estimated ?? 0)) }
        : {};
    return {
      strategy: run.strategy,
      images: n,
      optimumFound: found,
      optimumShare: n === 0 ? 0 : found / n,
      sameSigns: same,
      sameSignsShare: n === 0 ? 0 : same / n,
      meanLossGap: mean(gaps),
      maxLossGap: n === 0 ? null : Math.max(...gaps),
      reductionCaptured: possible > 0 ? reached / possible : null,
      meanCandidatesScored: meanCount,
      candidateShare: meanCount === null ? null : meanCount / exhaustiveCandidateCount(classCount),
      scorerCalls: run.scorerCalls,
      rounds: run.rounds,
      ...greedyStats,
      ...surrogateStats,
    };
  });
  return {
    classCount,
    images: opt.results.length,
    exhaustiveCandidates: exhaustiveCandidateCount(classCount),
    tolerance,
    exhaustive: {
      meanCleanLoss: mean(opt.results.map((r) => r.cleanLoss)),
      meanChosenLoss: mean(opt.results.map((r) => r.chosenLoss)),
      meanLossReduction: mean(opt.results.map((r) => r.cleanLoss - r.chosenLoss)),
      imagesChanged: opt.results.filter((r) => r.signs.some((s) => s !== 0)).length,
      scorerCalls: opt.scorerCalls,
      rounds: opt.rounds,
    },
    strategies,
  };
}

/** Wraps a scorer and keeps every loss it returns, per image and sign key. */
export function recordingScorer(scorer: CandidateScorer): {
  scorer: CandidateScorer;
  table: Map<number, Map<string, number>>;
} {
  const table = new Map<number, Map<string, number>>();
  const wrapped: CandidateScorer = async (request, options) => {
    const losses = await scorer(request, options);
    request.imageIndices.forEach((image, j) => {
      let t = table.get(image);
      if (!t) table.set(image, (t = new Map()));
      const row = losses[j];
      request.candidates[j]?.forEach((s, k) => {
        if (row !== undefined && k < row.length) t.set(signKey(s), row[k] as number);
      });
    });
    return losses;
  };
  return { scorer: wrapped, table };
}

/** A scorer answering from a table of known losses (throws on a candidate it does not hold). */
export function tableScorer(table: ReadonlyMap<number, ReadonlyMap<string, number>>): CandidateScorer {
  return async (request) =>
    request.imageIndices.map((image, j) => {
      const t = table.get(image);
      return (request.candidates[j] ?? []).map((s) => {
        const v = t?.get(signKey(s));
        if (v === undefined) throw new SelectionError(`no stored loss for image ${image}, signs ${signKey(s)}`);
        return v;
      });
    });
}

export interface ComparisonOptions extends ScoringOptions {
  readonly classCount: number;
  readonly imageIndices: readonly number[];
  /** The strategies to compare with exhaustive (exhaustive itself is always run). */
  readonly strategies: readonly SelectionStrategy[];
  /** Estimates for the surrogate strategy (asked of the worker even when scores are replayed). */
  readonly estimator?: CandidateEstimator;
  readonly tolerance?: TieTolerance;
  /**
   * Default true: score all 3^C candidates once (exhaustive) and answer the other strategies
   * from those losses, so the comparison costs one exhaustive pass and every strategy sees the
   * very same numbers. False: every strategy asks the scorer itself.
   */
  readonly reuseExhaustiveScores?: boolean;
}

export interface ComparisonRun {
  readonly comparison: SelectionComparison;
  readonly exhaustive: SelectionRun;
  readonly runs: SelectionRun[];
  /** Milliseconds per strategy label (exhaustive included). */
  readonly wallMs: Record<string, number>;
}

/** Runs exhaustive and the given strategies on the same images and compares them. */
export async function runSelectionComparison(
  scorer: CandidateScorer,
  options: ComparisonOptions,
): Promise<ComparisonRun> {
  const tolerance = options.tolerance ?? DEFAULT_TIE_TOLERANCE;
  const reuse = options.reuseExhaustiveScores ?? true;
  const wallMs: Record<string, number> = {};
  const rec = reuse ? recordingScorer(scorer) : undefined;
  let t0 = performance.now();
  const exhaustive = await selectSigns(rec?.scorer ?? scorer, { ...options, strategy: { kind: "exhaustive" }, tolerance });
  wallMs.exhaustive = performance.now() - t0;
  const other = rec ? tableScorer(rec.table) : scorer;
  const runs: SelectionRun[] = [];
  for (const strategy of options.strategies) {
    t0 = performance.now();
    runs.push(await selectSigns(other, { ...options, strategy, tolerance }));
    wallMs[strategyLabel(strategy)] = performance.now() - t0;
  }
  return {
    comparison: compareSelections(exhaustive, runs, options.classCount, tolerance),
    exhaustive,
    runs,
    wallMs,
  };
}
