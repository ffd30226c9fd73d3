// The scorer interface the selection strategies talk to, and the batching of candidates into
// scorer requests. Nothing here knows about gRPC: the adapter wraps the worker's
// ScoreCandidates RPC into a `CandidateScorer` (and may use `packCandidates` / `unpackLosses`).

import { assertSignVector, SelectionError, type Sign, type SignVector } from "./signs.js";

/**
 * One scorer request: for each listed image, the candidate sign vectors to score.
 * `candidates[j]` belongs to `imageIndices[j]`; image indices are distinct within a request.
 * Lists may have different lengths per image (see `packCandidates` for the int8 (N, K, C) form).
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
 * near-equal slices, one request each. Lists of equal length K ≤ max thus give requests of
 * floor(max / K) images with K candidates each (uniform, as the worker's (N, K, C) tensor wants).
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
// Wire form: int8 (N, K, C) candidates and float64 (N, K) losses (ScoreCandidatesRequest).

export interface PackedCandidates {
  readonly imageIndices: readonly number[];
  /** [N, K, C]. */
  readonly shape: readonly [number, number, number];
  /** Row-major int8 signs, N·K·C values. */
  readonly data: Int8Array;
  /** Real candidates per image (≤ K); the rest of each row is padding. */
  readonly counts: readonly number[];
  /** Padding candidates added in total (each repeats its image's last real candidate). */
  readonly padded: number;
}

/**
 * Packs a (possibly ragged) request into the uniform int8 (N, K, C) tensor of the contract:
 * K = the longest list; shorter lists are padded by repeating their last candidate (a duplicate
 * forward pass on the worker, dropped again by `unpackLosses`).
 */
export function packCandidates(request: ScoreRequest, classCount: number): PackedCandidates {
  const n = request.imageIndices.length;
  if (request.candidates.length !== n) {
    throw new SelectionError(`request has ${n} images but ${request.candidates.length} candidate lists`);
  }
  const counts = request.candidates.map((l) => l.length);
  const k = Math.max(0, ...counts);
  const data = new Int8Array(n * k * classCount);
  let padded = 0;
  request.candidates.forEach((list, i) => {
    for (let j = 0; j < k; j++) {
      const s = list[Math.min(j, list.length - 1)];
      if (s === undefined) continue; // empty list: zeros
      if (j >= list.length) padded++;
      const v = assertSignVector(s, classCount, `candidate ${j} of image ${String(request.imageIndices[i])}`);
      data.set(v, (i * k + j) * classCount);
    }
  });
  return { imageIndices: request.imageIndices.slice(), shape: [n, k, classCount], data, counts, padded };
}

/** Inverse of `packCandidates` for tests and for a worker-side simulation. */
export function unpackCandidates(packed: PackedCandidates): Sign[][][] {
  const [n, k, c] = packed.shape;
  const out: Sign[][][] = [];
  for (let i = 0; i < n; i++) {
    const list: Sign[][] = [];
    for (let j = 0; j < (packed.counts[i] ?? k); j++) {
      list.push(Array.from(packed.data.subarray((i * k + j) * c, (i * k + j + 1) * c)) as Sign[]);
    }
    out.push(list);
  }
  return out;
}

/** Splits the worker's (N, K) float64 losses back into per-image rows, dropping padding. */
export function unpackLosses(losses: ArrayLike<number>, packed: PackedCandidates): number[][] {
  const [n, k] = packed.shape;
  if (losses.length !== n * k) {
    throw new SelectionError(`expected ${n}×${k} = ${n * k} losses, got ${losses.length}`);
  }
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row: number[] = [];
    for (let j = 0; j < (packed.counts[i] ?? 0); j++) row.push(losses[i * k + j] as number);
    out.push(row);
  }
  return out;
}
