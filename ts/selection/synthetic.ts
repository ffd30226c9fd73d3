// Seeded synthetic losses over sign vectors, for tests, for `compare-selection --synthetic` and
// for measuring the strategies without a model. Deterministic for (seed, image, signs).

import type { CandidateScorer } from "./scoring.js";
import { assertClassCount, signKey, type SignVector } from "./signs.js";

/** 32-bit mix of integers (a splitmix-style finaliser); deterministic across platforms. */
export function hash32(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    h = (h + 0x6d2b79f5) | 0;
  }
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

export type SyntheticLossKind = "separable" | "pairwise" | "random";

export interface SyntheticLossOptions {
  readonly classCount: number;
  readonly seed: number;
  /**
   * separable: L0 + Σ_c u_c(s_c) (the per-class effects add up; greedy and beam are exact);
   * pairwise: separable plus Σ_{c<d} (W_cd · s_c s_d + V_cd · s_c² s_d²) (directions interact);
   * random: an independent uniform loss per vector (no structure at all).
   */
  readonly kind: SyntheticLossKind;
  /** Scale of the pairwise terms relative to the per-class ones (pairwise; default 0.5). */
  readonly interaction?: number;
  /** Round every loss to float32, as the worker's losses are (default true). */
  readonly float32?: boolean;
  /** Round every loss to a multiple of this (before float32) to create exact ties. */
  readonly quantum?: number;
}

/** A synthetic loss J(image, s). */
export function syntheticLoss(opts: SyntheticLossOptions): (image: number, signs: SignVector) => number {
  const c = opts.classCount;
  assertClassCount(c);
  const interaction = opts.interaction ?? 0.5;
  const round = (v: number): number => {
    const q = opts.quantum ? Math.round(v / opts.quantum) * opts.quantum : v;
    return opts.float32 === false ? q : Math.fround(q);
  };
  if (opts.kind === "random") {
    return (image, signs) => {
      let rank = 0;
      for (const s of signs) rank = rank * 3 + (s + 1);
      return round(0.2 + hash32(opts.seed, image, rank, 17) / 4294967296);
    };
  }
  interface Params {
    base: number;
    minus: number[];
    plus: number[];
    w: number[][];
    v: number[][];
  }
  const cache = new Map<number, Params>();
  const params = (image: number): Params => {
    let p = cache.get(image);
    if (p) return p;
    const rand = mulberry32(hash32(opts.seed, image, 1));
    const base = 0.3 + 0.7 * rand();
    const minus: number[] = [];
    const plus: number[] = [];
    for (let k = 0; k < c; k++) {
      // u_c(±1) = ±g + h: a slope and a curvature; either direction can help or hurt.
      const g = 0.05 * normal(rand);
      const h = 0.02 * normal(rand);
      minus.push(-g + h);
      plus.push(g + h);
    }
    const w: number[][] = [];
    const v: number[][] = [];
    for (let a = 0; a < c; a++) {
      w.push([]);
      v.push([]);
      for (let b = 0; b < c; b++) {
        (w[a] as number[]).push(a < b ? 0.05 * interaction * normal(rand) : 0);
        (v[a] as number[]).push(a < b ? 0.03 * interaction * normal(rand) : 0);
      }
    }
    p = { base, minus, plus, w, v };
    cache.set(image, p);
    return p;
  };
  return (image, signs) => {
    const p = params(image);
    let loss = p.base;
    for (let a = 0; a < c; a++) {
      const sa = signs[a] ?? 0;
      if (sa === 1) loss += p.plus[a] ?? 0;
      else if (sa === -1) loss += p.minus[a] ?? 0;
      if (opts.kind === "pairwise" && sa !== 0) {
        for (let b = a + 1; b < c; b++) {
          const sb = signs[b] ?? 0;
          if (sb === 0) continue;
          loss += (p.w[a]?.[b] ?? 0) * sa * sb + (p.v[a]?.[b] ?? 0);
        }
      }
    }
    // Keep losses positive with a strictly increasing floor (the order of all vectors, and so
    // every strategy's behaviour, stays that of the raw sum).
    const floor = 0.05;
    return round(loss >= floor ? loss : floor * Math.exp((loss - floor) / floor));
  };
}

export interface SyntheticScorer {
  readonly scorer: CandidateScorer;
  /** Requests answered so far. */
  readonly calls: () => number;
  /** Candidates scored so far (with repeats). */
  readonly candidates: () => number;
  /** Per image, how many times each sign key was scored. */
  readonly scoredKeys: Map<number, Map<string, number>>;
}

/** A `CandidateScorer` over a loss function, counting its calls. */
export function syntheticScorer(loss: (image: number, signs: SignVector) => number): SyntheticScorer {
  let calls = 0;
  let candidates = 0;
  const scoredKeys = new Map<number, Map<string, number>>();
  const scorer: CandidateScorer = async (request) => {
    calls++;
    return request.imageIndices.map((image, j) => {
      let seen = scoredKeys.get(image);
      if (!seen) scoredKeys.set(image, (seen = new Map()));
      return (request.candidates[j] ?? []).map((s) => {
        candidates++;
        const k = signKey(s);
        seen.set(k, (seen.get(k) ?? 0) + 1);
        return loss(image, s);
      });
    });
  };
  return { scorer, calls: () => calls, candidates: () => candidates, scoredKeys };
}
