// The scorer interface the selection strategies talk to, and the batching of candidates into
// scorer requests. Nothing here knows about gRPC: the adapter in ts/ops/score-candidates.ts wraps
// the worker's ScoreCandidates RPC (ragged rows, one image index per row) into a `CandidateScorer`.

import { assertSignVector, SelectionError, type Sign, type SignVector } from "./signs.js";

/**
 * One scorer request: for each listed image, the candidate sign vectors to score.
 * `candidates[j]` belongs to `imageIndices[j]`; image indices are distinct within a request.
 * Lists may have different lengths per image (the contract's rows are ragged: no padding).
 */
export interface ScoreRequest {
  readonly imageIndices: readonly number[];
  readonly candidates: readonly (readonly SignVector[])[];
}

/**
 * Scores candidates: returns `losses[j][k]` = J(θ, x_s, y) for s = `candidates[j][k]` of image
 * `imageIndices[j]`. Rows may be plain arrays or typed arrays (e.g. a Float64Array view).
 */
export type CandidateScorer = (
  request: ScoreRequest,
  options: { readonly signal?: AbortSignal },
) => Promise<readonly ArrayLike<number>[]>;

/** Default bound on the number of candidates (summed over images) in one scorer request. */
export const DEFAULT_MAX_CANDIDATES_PER_REQUEST = 4096;

export interface ScoringOptions {
  /** Candidates per request, summed over its images (default 4096). */
  readonly maxCandidatesPerRequest?: number;
  /** Requests in flight at once (default 1; more only helps with a pool of workers). */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Called after every answered request. */
  readonly onProgress?: (p: ScoringProgress) => void;
}

export interface ScoringProgress {
  /** Rounds started so far (a round = one strategy step over all active images that scores something). */
  readonly round: number;
  readonly scorerCalls: number;
  readonly candidatesScored: number;
}

export interface ScoringStats {
  scorerCalls: number;
  candidatesScored: number;
  rounds: number;
}

/** One image's candidates of a round. */
export interface ImageCandidates {
  readonly image: number;
  readonly candidates: readonly SignVector[];
}

function positiveInt(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new SelectionError(`${what} must be an integer >= 1, got ${String(v)}`);
  return v;
}

/**
 * Splits per-image candidate lists into requests of at most `max` candidates: whole images are
 * packed together while they fit; an image whose list alone exceeds `max` is split into
 * near-equal slices, one request each.
 */
export function planRequests(
  work: readonly ImageCandidates[],
  max: number,
): { request: ScoreRequest; slices: { work: number; start: number }[] }[] {
  const plans: { request: ScoreRequest; slices: { work: number; start: number }[] }[] = [];
  let images: number[] = [];
  let cands: (readonly SignVector[])[] = [];
  let slices: { work: number; start: number }[] = [];
  let size = 0;
  const flush = (): void => {
    if (images.length > 0) plans.push({ request: { imageIndices: images, candidates: cands }, slices });
    images = [];
    cands = [];
    slices = [];
    size = 0;
  };
  work.forEach((w, wi) => {
    const n = w.candidates.length;
    if (n === 0) return;
    if (n > max) {
      flush();
      const parts = Math.ceil(n / max);
      const per = Math.ceil(n / parts);
      for (let start = 0; start < n; start += per) {
        plans.push({
          request: { imageIndices: [w.image], candidates: [w.candidates.slice(start, start + per)] },
          slices: [{ work: wi, start }],
        });
      }
      return;
    }
    if (size + n > max) flush();
    images.push(w.image);
    cands.push(w.candidates);
    slices.push({ work: wi, start: 0 });
    size += n;
  });
  flush();
  return plans;
}

function checkResponse(request: ScoreRequest, losses: readonly ArrayLike<number>[]): void {
  if (!Array.isArray(losses) || losses.length !== request.imageIndices.length) {
    throw new SelectionError(
      `scorer returned ${Array.isArray(losses) ? losses.length : typeof losses} loss rows for ${request.imageIndices.length} images`,
    );
  }
  losses.forEach((row, j) => {
    const expected = request.candidates[j]?.length ?? 0;
    if (row?.length !== expected) {
      throw new SelectionError(
        `scorer returned ${String(row?.length)} losses for image ${String(request.imageIndices[j])}, expected ${expected}`,
      );
    }
    for (let k = 0; k < row.length; k++) {
      const v = row[k];
      if (typeof v !== "number" || Number.isNaN(v) || v === Number.NEGATIVE_INFINITY) {
        throw new SelectionError(
          `scorer returned loss ${String(v)} for image ${String(request.imageIndices[j])}, candidate ${k}: losses must be numbers, not NaN or -Infinity`,
        );
      }
    }
  });
}

/**
 * Scores one round: every image's list, batched across images into as few requests as the bound
 * allows. Returns `losses[w][k]` aligned with `work`.
 */
export async function scoreRound(
  scorer: CandidateScorer,
  work: readonly ImageCandidates[],
  options: ScoringOptions,
  stats: ScoringStats,
): Promise<number[][]> {
  const max = positiveInt(options.maxCandidatesPerRequest, DEFAULT_MAX_CANDIDATES_PER_REQUEST, "maxCandidatesPerRequest");
  const concurrency = positiveInt(options.concurrency, 1, "concurrency");
  const seen = new Set<number>();
  for (const w of work) {
    if (seen.has(w.image)) throw new SelectionError(`image ${w.image} appears twice in one round`);
    seen.add(w.image);
  }
  const out = work.map((w) => new Array<number>(w.candidates.length).fill(Number.NaN));
  const plans = planRequests(work, max);
  if (plans.length === 0) return out; // nothing new to score (e.g. a greedy sweep met only cached vectors)
  stats.rounds++;
  const round = stats.rounds;
  let next = 0;
  const runOne = async (): Promise<void> => {
    while (next < plans.length) {
      const plan = plans[next++];
      if (plan === undefined) return;
      options.signal?.throwIfAborted();
      stats.scorerCalls++;
      const losses = await scorer(plan.request, { signal: options.signal });
      checkResponse(plan.request, losses);
      plan.slices.forEach((slice, j) => {
        const row = losses[j] as ArrayLike<number>;
        const dest = out[slice.work] as number[];
        for (let k = 0; k < row.length; k++) dest[slice.start + k] = row[k] as number;
        stats.candidatesScored += row.length;
      });
      options.onProgress?.({ round, scorerCalls: stats.scorerCalls, candidatesScored: stats.candidatesScored });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, runOne));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Estimates (the surrogate strategy): cheap approximations of many candidates' losses around a
// centre, exact on the centre's basis (the centre and its single-sign changes).

/** One estimator request: per image, the candidates to estimate and the centre to estimate around. */
export interface EstimateRequest extends ScoreRequest {
  /** `centres[j]`: the centre of image `imageIndices[j]`'s estimates. */
  readonly centres: readonly SignVector[];
}

/** One image's answer: an estimate per candidate, and whether it is the exact loss. */
export interface EstimateRow {
  readonly values: ArrayLike<number>;
  readonly exact: ArrayLike<boolean | number>;
}

/**
 * Estimates candidates (the worker's ScoreCandidates with scoring LOGIT_ADDITIVE): row j holds
 * image `imageIndices[j]`'s estimates, exact on its centre's basis points.
 */
export type CandidateEstimator = (
  request: EstimateRequest,
  options: { readonly signal?: AbortSignal },
) => Promise<readonly EstimateRow[]>;

/** One image's candidates and centre in an estimate round. */
export interface ImageEstimates extends ImageCandidates {
  readonly centre: SignVector;
}

export interface EstimateStats {
  estimatorCalls: number;
  candidatesEstimated: number;
}

/**
 * Estimates one round: every image's list around its centre, packed into requests of at most
 * `maxCandidatesPerRequest` rows (an image's list is never split: its basis is computed once per
 * request it appears in). Returns per image the values and exact flags aligned with its list.
 */
export async function estimateRound(
  estimator: CandidateEstimator,
  work: readonly ImageEstimates[],
  options: ScoringOptions,
  stats: EstimateStats,
): Promise<{ values: number[]; exact: boolean[] }[]> {
  const max = positiveInt(options.maxCandidatesPerRequest, DEFAULT_MAX_CANDIDATES_PER_REQUEST, "maxCandidatesPerRequest");
  const out = work.map((w) => ({ values: new Array<number>(w.candidates.length).fill(Number.NaN), exact: new Array<boolean>(w.candidates.length).fill(false) }));
  let batch: number[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const positions = batch;
    const items = positions.map((wi) => work[wi] as ImageEstimates);
    batch = [];
    size = 0;
    options.signal?.throwIfAborted();
    stats.estimatorCalls++;
    const request: EstimateRequest = {
      imageIndices: items.map((w) => w.image),
      candidates: items.map((w) => w.candidates),
      centres: items.map((w) => w.centre),
    };
    const rows = await estimator(request, { signal: options.signal });
    if (!Array.isArray(rows) || rows.length !== items.length) {
      throw new SelectionError(`estimator returned ${Array.isArray(rows) ? rows.length : typeof rows} rows for ${items.length} images`);
    }
    items.forEach((w, j) => {
      const row = rows[j] as EstimateRow;
      if (row?.values?.length !== w.candidates.length || row.exact?.length !== w.candidates.length) {
        throw new SelectionError(`estimator returned ${String(row?.values?.length)} estimates for image ${w.image}, expected ${w.candidates.length}`);
      }
      const dest = out[positions[j] as number] as { values: number[]; exact: boolean[] };
      for (let k = 0; k < w.candidates.length; k++) {
        const v = row.values[k] as number;
        if (typeof v !== "number" || Number.isNaN(v)) throw new SelectionError(`estimator returned ${String(v)} for image ${w.image}`);
        dest.values[k] = v;
        dest.exact[k] = Boolean(row.exact[k]);
      }
      stats.candidatesEstimated += w.candidates.length;
    });
  };
  for (let wi = 0; wi < work.length; wi++) {
    const n = (work[wi] as ImageEstimates).candidates.length;
    if (n === 0) continue;
    if (size > 0 && size + n > max) await flush();
    batch.push(wi);
    size += n;
  }
  await flush();
  return out;
}
