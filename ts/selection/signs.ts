// Sign vectors of method two (docs/ARCHITECTURE.md section 9, paper Formulas 3-5), the tie rule, and the
// candidate-count formulas of the selection strategies.
//
// A sign vector s ∈ {−1, 0, +1}^C says, per class c, whether the class's FGSM direction a_c is
// added (+1), subtracted / "removed" (−1) or skipped (0): x_s = clip(x + Σ_c s_c · a_c, 0, 1).

/** One class's sign. */
export type Sign = -1 | 0 | 1;

/** A candidate sign vector, one entry per class (index = class index). */
export type SignVector = readonly Sign[];

/** Readable name of a sign in records and aggregates. */
export type SignAction = "add" | "remove" | "skip";

export const SIGN_VALUES: readonly Sign[] = [-1, 0, 1];

export class SelectionError extends Error {
  override name = "SelectionError";
}

/** Largest class count the exhaustive strategy (and `allSignVectors`) accepts: 3^16 ≈ 43 M. */
export const MAX_EXHAUSTIVE_CLASSES = 16;

export function isSign(v: unknown): v is Sign {
  return v === -1 || v === 0 || v === 1;
}

export function assertClassCount(classCount: number): void {
  if (!Number.isInteger(classCount) || classCount < 1) {
    throw new SelectionError(`classCount must be an integer >= 1, got ${String(classCount)}`);
  }
}

/** Checks a sign vector's length and values; returns it typed. */
export function assertSignVector(v: ArrayLike<number>, classCount: number, what = "sign vector"): SignVector {
  if (v.length !== classCount) {
    throw new SelectionError(`${what} has length ${v.length}, expected ${classCount}`);
  }
  for (let c = 0; c < v.length; c++) {
    if (!isSign(v[c])) {
      throw new SelectionError(`${what}[${c}] is ${String(v[c])}, expected -1, 0 or 1`);
    }
  }
  return Array.from(v) as Sign[];
}

export function zeroSigns(classCount: number): Sign[] {
  return new Array<Sign>(classCount).fill(0);
}

export function signAction(s: Sign): SignAction {
  return s === 1 ? "add" : s === -1 ? "remove" : "skip";
}

/** Number of non-zero signs (the support size). */
export function nonZeroCount(s: SignVector): number {
  let n = 0;
  for (const v of s) if (v !== 0) n++;
  return n;
}

const KEY_CHAR: Record<string, string> = { "-1": "-", "0": "0", "1": "+" };

/** Compact readable key: one character per class, '-' | '0' | '+'. E.g. [0, 1, -1] → "0+-". */
export function signKey(s: SignVector): string {
  let k = "";
  for (const v of s) k += KEY_CHAR[String(v)];
  return k;
}

export function parseSignKey(key: string): Sign[] {
  const out: Sign[] = [];
  for (const ch of key) {
    if (ch === "-") out.push(-1);
    else if (ch === "0") out.push(0);
    else if (ch === "+") out.push(1);
    else throw new SelectionError(`bad sign key ${JSON.stringify(key)}: characters must be '-', '0' or '+'`);
  }
  return out;
}

// Tie-break order of a single coordinate: 0 < −1 < +1 ("skip" before "remove" before "add").
const SIGN_RANK: Record<string, number> = { "0": 0, "-1": 1, "1": 2 };

/**
 * The deterministic last tie-break: lexicographic order of the sign vectors, class 0 first, each
 * coordinate ordered 0 < −1 < +1. Negative when a comes first.
 */
export function compareSignsLex(a: SignVector, b: SignVector): number {
  const n = Math.min(a.length, b.length);
  for (let c = 0; c < n; c++) {
    const d = (SIGN_RANK[String(a[c])] ?? 0) - (SIGN_RANK[String(b[c])] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Support size first (fewer non-zero signs first), then `compareSignsLex`. A total order. */
export function compareSignsTieBreak(a: SignVector, b: SignVector): number {
  const d = nonZeroCount(a) - nonZeroCount(b);
  return d !== 0 ? d : compareSignsLex(a, b);
}

/** 3^C, the number of candidates of the exhaustive strategy (the paper's method). */
export function exhaustiveCandidateCount(classCount: number): number {
  assertClassCount(classCount);
  return 3 ** classCount;
}

/**
 * Every sign vector of length C in tie-break lexicographic order (0 < −1 < +1, class 0 most
 * significant), so the first one is s = 0. Generated lazily.
 */
export function* allSignVectors(classCount: number): Generator<Sign[]> {
  assertClassCount(classCount);
  if (classCount > MAX_EXHAUSTIVE_CLASSES) {
    throw new SelectionError(
      `3^${classCount} candidates is too many to enumerate (at most ${MAX_EXHAUSTIVE_CLASSES} classes)`,
    );
  }
  const order: Sign[] = [0, -1, 1];
  const digits = new Array<number>(classCount).fill(0);
  const total = 3 ** classCount;
  for (let i = 0; i < total; i++) {
    yield digits.map((d) => order[d] as Sign);
    for (let c = classCount - 1; c >= 0; c--) {
      const d = (digits[c] ?? 0) + 1;
      if (d < 3) {
        digits[c] = d;
        break;
      }
      digits[c] = 0;
    }
  }
}

/** The i-th vector of `allSignVectors(classCount)` (0 ≤ i < 3^C). */
export function signVectorAt(index: number, classCount: number): Sign[] {
  const order: Sign[] = [0, -1, 1];
  const out = new Array<Sign>(classCount).fill(0);
  let r = index;
  for (let c = classCount - 1; c >= 0; c--) {
    out[c] = order[r % 3] as Sign;
    r = Math.floor(r / 3);
  }
  return out;
}

/** The 2C single-coordinate changes of s (each coordinate to each of its two other values). */
export function neighbours(s: SignVector): Sign[][] {
  const out: Sign[][] = [];
  for (let c = 0; c < s.length; c++) {
    for (const v of SIGN_VALUES) {
      if (v === s[c]) continue;
      const t = s.slice() as Sign[];
      t[c] = v;
      out.push(t);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Candidate-count formulas (what a report can state against 3^C).

/**
 * Exact number of distinct candidates beam(k) scores per image, for every image:
 * 1 (s = 0) + Σ_{c=0}^{C−1} 2 · min(k, 3^c).
 * Step c expands each of the min(k, 3^c) kept vectors with s_c = ±1 (s_c = 0 is the kept vector
 * itself, already scored); all children are distinct. For k ≥ 3^{C−1} this is 3^C (exhaustive).
 */
export function beamCandidateCount(classCount: number, width: number): number {
  assertClassCount(classCount);
  assertBeamWidth(width);
  let n = 1;
  let kept = 1; // min(k, 3^c)
  for (let c = 0; c < classCount; c++) {
    n += 2 * kept;
    kept = Math.min(width, kept * 3);
  }
  return n;
}

export function assertBeamWidth(width: number): void {
  if (!Number.isInteger(width) || width < 1) {
    throw new SelectionError(`beam width must be an integer >= 1, got ${String(width)}`);
  }
}

/**
 * Greedy's candidate count per image is data-dependent; exactly, it is the number of distinct
 * vectors in {0} ∪ N(v_1) ∪ … ∪ N(v_S), where v_1 = 0, …, v_S are the vectors whose neighbourhood
 * was evaluated (one per sweep) and N(v) the 2C single-coordinate changes of v
 * (`greedyCandidateCountForPath` computes it). With S sweeps it lies between 1 + 2C (the first
 * sweep, S = 1, exactly) and the upper bound
 *   1 + 2C + (S − 1) · 2(C − 1),
 * because after a move along coordinate j both other values of coordinate j are already scored
 * (the previous vector and its other neighbour along j), so each later sweep adds at most
 * 2(C − 1) new vectors (fewer when it meets vectors scored around earlier centres).
 * A greedy run that converges after m moves evaluates S = m + 1 sweeps.
 */
export function greedyCandidateBound(classCount: number, sweeps: number): number {
  assertClassCount(classCount);
  if (!Number.isInteger(sweeps) || sweeps < 1) {
    throw new SelectionError(`sweeps must be an integer >= 1, got ${String(sweeps)}`);
  }
  return 1 + 2 * classCount + (sweeps - 1) * 2 * (classCount - 1);
}

/** Exact greedy count for the sequence of vectors whose neighbourhoods were evaluated. */
export function greedyCandidateCountForPath(centres: readonly SignVector[]): number {
  const seen = new Set<string>();
  for (const v of centres) {
    seen.add(signKey(v));
    for (const n of neighbours(v)) seen.add(signKey(n));
  }
  return seen.size;
}

// ---------------------------------------------------------------------------------------------
// The tie rule.

/**
 * When two losses count as equal. Two losses a ≤ b tie iff b − a ≤ max(absolute, relative·|a|)
 * (the band is measured from the smaller loss). Exact equality always ties.
 */
export interface TieTolerance {
  readonly relative: number;
  readonly absolute: number;
}

/**
 * Default: relative 1e-6, absolute 1e-12.
 *
 * The worker computes J in float32 and sends it as float64, so the doubles we compare are exact
 * float32 values: identical inputs scored in the same batch layout give bit-identical losses and
 * tie under any tolerance. The same image can, however, be scored in different requests (chunks
 * of different batch sizes), and batch-size-dependent kernels and reduction orders move a
 * float32 mean cross-entropy by a few ulps (1 ulp ≈ 6e-8 to 1.2e-7 relative). 1e-6 relative
 * (≈ 8 to 16 float32 ulps) absorbs that noise, so an effect-free direction (e.g. one clipped away
 * entirely) never beats s = 0 by rounding, while staying orders of magnitude below the loss
 * changes an ε-sized FGSM direction produces. A 1e-12 relative tolerance would be exact equality
 * for float32 data. Use `EXACT_TIES` for exact comparison.
 */
export const DEFAULT_TIE_TOLERANCE: TieTolerance = Object.freeze({ relative: 1e-6, absolute: 1e-12 });

export const EXACT_TIES: TieTolerance = Object.freeze({ relative: 0, absolute: 0 });

export function assertTolerance(t: TieTolerance): void {
  if (!(t.relative >= 0 && t.relative < 1) || !(t.absolute >= 0) || !Number.isFinite(t.absolute)) {
    throw new SelectionError(
      `tie tolerance needs 0 <= relative < 1 and a finite absolute >= 0, got ${JSON.stringify(t)}`,
    );
  }
}

/** Width of the tie band above a loss m: max(absolute, relative·|m|). */
export function tieBand(m: number, tol: TieTolerance = DEFAULT_TIE_TOLERANCE): number {
  return Math.max(tol.absolute, tol.relative * Math.abs(m));
}

/** True when a and b count as equal losses. */
export function lossesTie(a: number, b: number, tol: TieTolerance = DEFAULT_TIE_TOLERANCE): boolean {
  if (a === b) return true;
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  return hi - lo <= tieBand(lo, tol);
}

/** True when `a` is strictly better than `b` (lower beyond the tie band). */
export function lossImproves(a: number, b: number, tol: TieTolerance = DEFAULT_TIE_TOLERANCE): boolean {
  return a < b && !lossesTie(a, b, tol);
}

/** A scored candidate. */
export interface ScoredSigns {
  readonly signs: SignVector;
  readonly loss: number;
}

/**
 * Ranks candidates by the tie rule and returns the first `limit` of them:
 * repeatedly, among the remaining candidates whose loss ties with the remaining minimum, take the
 * one with fewest non-zero signs, then the first in `compareSignsLex`. The result depends only on
 * the set of (signs, loss) pairs, never on their order. `rankByTieRule(xs, 1)[0]` is s*.
 */
export function rankByTieRule<T extends ScoredSigns>(
  candidates: readonly T[],
  limit: number = candidates.length,
  tol: TieTolerance = DEFAULT_TIE_TOLERANCE,
): T[] {
  const rest = candidates.slice().sort((a, b) => a.loss - b.loss || compareSignsTieBreak(a.signs, b.signs));
  const out: T[] = [];
  while (out.length < limit && rest.length > 0) {
    const m = (rest[0] as T).loss;
    let best = 0;
    for (let j = 1; j < rest.length; j++) {
      const r = rest[j] as T;
      if (!lossesTie(r.loss, m, tol)) break; // sorted by loss: the band is a prefix
      if (compareSignsTieBreak(r.signs, (rest[best] as T).signs) < 0) best = j;
    }
    out.push(rest.splice(best, 1)[0] as T);
  }
  return out;
}

/** s* of a set of scored candidates by the tie rule (undefined when empty). */
export function pickBest<T extends ScoredSigns>(
  candidates: readonly T[],
  tol: TieTolerance = DEFAULT_TIE_TOLERANCE,
): T | undefined {
  return rankByTieRule(candidates, 1, tol)[0];
}

/**
 * Streaming s*: add candidates in any order, `best()` equals `pickBest` over everything added.
 * It keeps only the candidates within the tie band of the running minimum (a candidate outside
 * the band of some minimum is outside the band of every lower minimum, since relative < 1).
 */
export class BestTracker<T extends ScoredSigns = ScoredSigns> {
  private min = Number.POSITIVE_INFINITY;
  private band: T[] = [];
  private count = 0;

  constructor(private readonly tol: TieTolerance = DEFAULT_TIE_TOLERANCE) {}

  add(c: T): void {
    this.count++;
    if (this.count === 1 || c.loss < this.min) {
      this.min = c.loss;
      this.band = this.band.filter((b) => lossesTie(b.loss, this.min, this.tol));
      this.band.push(c);
    } else if (lossesTie(c.loss, this.min, this.tol)) {
      this.band.push(c);
    }
  }

  get size(): number {
    return this.count;
  }

  best(): T | undefined {
    return pickBest(this.band, this.tol);
  }
}
