import { describe, expect, it } from "vitest";

import {
  allSignVectors,
  beamCandidateCount,
  BestTracker,
  compareSignsLex,
  DEFAULT_TIE_TOLERANCE,
  EXACT_TIES,
  exhaustiveCandidateCount,
  greedyCandidateBound,
  greedyCandidateCountForPath,
  lossesTie,
  lossImproves,
  neighbours,
  nonZeroCount,
  parseSignKey,
  pickBest,
  rankByTieRule,
  SelectionError,
  signKey,
  signVectorAt,
  type Sign,
  type ScoredSigns,
} from "./signs.js";
import { mulberry32 } from "./synthetic.js";

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

describe("sign vectors", () => {
  it("enumerates all 3^C vectors once, s = 0 first, in tie-break lexicographic order", () => {
    for (let c = 1; c <= 6; c++) {
      const all = [...allSignVectors(c)];
      expect(all.length).toBe(exhaustiveCandidateCount(c));
      expect(new Set(all.map(signKey)).size).toBe(3 ** c);
      expect(nonZeroCount(all[0] as Sign[])).toBe(0);
      for (let i = 1; i < all.length; i++) expect(compareSignsLex(all[i - 1] as Sign[], all[i] as Sign[])).toBeLessThan(0);
      all.forEach((v, i) => expect(signVectorAt(i, c)).toEqual(v));
    }
    expect(exhaustiveCandidateCount(6)).toBe(729);
  });

  it("orders coordinates 0 < -1 < +1, class 0 first", () => {
    expect(compareSignsLex([0, 1], [-1, 0])).toBeLessThan(0);
    expect(compareSignsLex([-1, 0], [1, -1])).toBeLessThan(0);
    expect(compareSignsLex([1, 0], [1, -1])).toBeLessThan(0);
    expect(compareSignsLex([1, -1], [1, -1])).toBe(0);
  });

  it("keys round-trip", () => {
    expect(signKey([0, 1, -1])).toBe("0+-");
    expect(parseSignKey("0+-")).toEqual([0, 1, -1]);
    expect(() => parseSignKey("0x")).toThrow(SelectionError);
  });

  it("has 2C distinct single-coordinate neighbours", () => {
    const s: Sign[] = [0, 1, -1, 0];
    const n = neighbours(s);
    expect(n.length).toBe(8);
    expect(new Set(n.map(signKey)).size).toBe(8);
    for (const t of n) expect(t.filter((v, c) => v !== s[c]).length).toBe(1);
  });
});

describe("candidate-count formulas", () => {
  it("beam: 1 + Σ 2·min(k, 3^c), = 3^C once k ≥ 3^(C-1)", () => {
    expect(beamCandidateCount(6, 1)).toBe(13);
    expect(beamCandidateCount(6, 3)).toBe(1 + 2 * (1 + 3 + 3 + 3 + 3 + 3));
    expect(beamCandidateCount(6, 5)).toBe(1 + 2 * (1 + 3 + 5 + 5 + 5 + 5));
    for (let c = 1; c <= 7; c++) {
      expect(beamCandidateCount(c, 3 ** (c - 1))).toBe(3 ** c);
      expect(beamCandidateCount(c, 3 ** c)).toBe(3 ** c);
      if (c > 1) expect(beamCandidateCount(c, 3 ** (c - 1) - 1)).toBeLessThan(3 ** c);
    }
  });

  it("greedy: first sweep 1 + 2C, each later sweep at most 2(C-1) new", () => {
    expect(greedyCandidateBound(6, 1)).toBe(13);
    expect(greedyCandidateBound(6, 3)).toBe(13 + 20);
    expect(greedyCandidateCountForPath([[0, 0, 0]])).toBe(7);
    // 000 → +00 → ++0: the second sweep adds 4 new (+-0 ++0 +0- +0+), the third only 3
    // (-+0 ++- +++), since 0+0 was already scored around 000.
    expect(greedyCandidateCountForPath([[0, 0, 0], [1, 0, 0], [1, 1, 0]])).toBe(14);
    expect(greedyCandidateCountForPath([[0, 0, 0], [1, 0, 0], [1, 1, 0]])).toBeLessThanOrEqual(greedyCandidateBound(3, 3));
  });
});

describe("tie rule", () => {
  it("tolerance: exact equality, float32 ulps and the default band", () => {
    const a = Math.fround(0.6931472);
    const nextUp = a + 2 ** -24; // one float32 ulp at this magnitude
    expect(Math.fround(nextUp)).toBe(nextUp);
    expect(lossesTie(a, a, EXACT_TIES)).toBe(true);
    expect(lossesTie(a, nextUp, EXACT_TIES)).toBe(false);
    expect(lossesTie(a, nextUp)).toBe(true); // ≈ 8.6e-8 relative < 1e-6
    expect(lossesTie(a, a * (1 + 2e-6))).toBe(false);
    expect(lossImproves(a, a * (1 + 2e-6))).toBe(true);
    expect(lossImproves(a, nextUp)).toBe(false);
    expect(lossesTie(0, 1e-13)).toBe(true); // absolute floor
    expect(lossesTie(Infinity, Infinity)).toBe(true);
    expect(lossesTie(1, Infinity)).toBe(false);
    expect(DEFAULT_TIE_TOLERANCE).toEqual({ relative: 1e-6, absolute: 1e-12 });
  });

  it("pickBest: lowest loss, then fewer non-zero signs, then lexicographic", () => {
    const xs: ScoredSigns[] = [
      { signs: [1, 1], loss: 0.5 },
      { signs: [0, 0], loss: 0.7 },
      { signs: [-1, 0], loss: 0.5 },
      { signs: [0, 1], loss: 0.5 },
      { signs: [0, -1], loss: 0.6 },
    ];
    expect(pickBest(xs)?.signs).toEqual([0, 1]);
    expect(rankByTieRule(xs).map((x) => signKey(x.signs))).toEqual(["0+", "-0", "++", "0-", "00"]);
  });

  it("is independent of the order candidates arrive in, also for chains of near-ties", () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 200; trial++) {
      const c = 3;
      const all = [...allSignVectors(c)];
      // Losses on a grid of 0.5e-6 relative steps: many pairs tie, chains do not all tie.
      const xs = all.map((signs) => ({ signs, loss: 1 + Math.floor(rand() * 6) * 0.5e-6 }));
      const ref = rankByTieRule(xs, 5).map((x) => signKey(x.signs));
      const tracker = new BestTracker();
      const shuffled = shuffle(xs, rand);
      for (const x of shuffled) tracker.add(x);
      expect(rankByTieRule(shuffled, 5).map((x) => signKey(x.signs))).toEqual(ref);
      expect(signKey(tracker.best()?.signs ?? [])).toBe(ref[0]);
    }
  });

  it("streaming best equals pickBest when the minimum drops below an earlier band", () => {
    const xs: ScoredSigns[] = [
      { signs: [0, 0, 0], loss: 1.0000014 },
      { signs: [1, 1, 0], loss: 1.0000005 },
      { signs: [1, 1, 1], loss: 0.9999996 },
    ];
    // min 0.9999996: band ≈ 1e-6 holds [1,1,0] (diff 9e-7) but not s = 0 (diff 1.8e-6).
    expect(pickBest(xs)?.signs).toEqual([1, 1, 0]);
    const t = new BestTracker();
    for (const x of xs) t.add(x);
    expect(t.best()?.signs).toEqual([1, 1, 0]);
  });
});
