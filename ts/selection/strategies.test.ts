import { describe, expect, it } from "vitest";

import { DEFAULT_TIE_TOLERANCE, EXACT_TIES, beamCandidateCount, greedyCandidateBound, greedyCandidateCountForPath, SelectionError, signKey, type Sign, type SignVector, type TieTolerance } from "./signs.js";
import type { CandidateScorer, ScoreRequest } from "./scoring.js";
import { parseStrategy, selectSigns, strategyLabel, type SelectionStrategy } from "./strategies.js";
import { syntheticLoss, syntheticScorer, type SyntheticLossKind } from "./synthetic.js";

type Loss = (image: number, s: SignVector) => number;

// ---- An independent brute-force reference of s* (own enumeration, own ordering code). ----
function enumerate(c: number): Sign[][] {
  if (c === 0) return [[]];
  const out: Sign[][] = [];
  for (const head of enumerate(c - 1)) for (const v of [-1, 0, 1] as Sign[]) out.push([...head, v]);
  return out;
}
const rankOf = (v: Sign): number => (v === 0 ? 0 : v === -1 ? 1 : 2);
function bruteForce(loss: Loss, image: number, c: number, tol: TieTolerance = DEFAULT_TIE_TOLERANCE): { signs: Sign[]; loss: number } {
  const all = enumerate(c).map((s) => ({ signs: s, loss: loss(image, s) }));
  const m = Math.min(...all.map((x) => x.loss));
  const band = all.filter((x) => x.loss - m <= Math.max(tol.absolute, tol.relative * Math.abs(m)));
  band.sort((a, b) => {
    const nz = a.signs.filter((v) => v !== 0).length - b.signs.filter((v) => v !== 0).length;
    if (nz !== 0) return nz;
    for (let k = 0; k < c; k++) {
      const d = rankOf(a.signs[k] as Sign) - rankOf(b.signs[k] as Sign);
      if (d !== 0) return d;
    }
    return 0;
  });
  return band[0] as { signs: Sign[]; loss: number };
}

const KINDS: SyntheticLossKind[] = ["random", "pairwise", "separable"];
const images = (n: number, offset = 0): number[] => Array.from({ length: n }, (_, i) => offset + 3 * i);

/** A scorer over a fixed table: loss(key) for one image. */
function tableLoss(table: Record<string, number>, fallback: number): Loss {
  return (_image, s) => table[signKey(s)] ?? fallback;
}

const ALL_STRATEGIES = (c: number): SelectionStrategy[] => [
  { kind: "exhaustive" },
  { kind: "greedy" },
  { kind: "beam", width: 1 },
  { kind: "beam", width: 3 },
  { kind: "beam", width: 3 ** (c - 1) },
];

describe("exhaustive", () => {
  it("equals the brute-force argmin, tie rule included, for C = 1..6", async () => {
    for (let c = 1; c <= 6; c++) {
      for (const kind of KINDS) {
        for (const quantum of [undefined, 0.05]) {
          const loss = syntheticLoss({ classCount: c, seed: 11 * c, kind, quantum });
          const { scorer } = syntheticScorer(loss);
          const idx = images(c <= 4 ? 12 : 5);
          const run = await selectSigns(scorer, { classCount: c, imageIndices: idx, strategy: { kind: "exhaustive" } });
          expect(run.results.map((r) => r.index)).toEqual(idx);
          for (const r of run.results) {
            const ref = bruteForce(loss, r.index, c);
            expect(r.signs).toEqual(ref.signs);
            expect(r.chosenLoss).toBe(ref.loss);
            expect(r.cleanLoss).toBe(loss(r.index, new Array<Sign>(c).fill(0)));
            expect(r.candidatesScored).toBe(3 ** c);
            expect(r.strategy).toBe("exhaustive");
          }
          expect(run.candidatesScored).toBe(idx.length * 3 ** c);
        }
      }
    }
  });

  it("follows an exact-tie reference with EXACT_TIES", async () => {
    const c = 4;
    const loss = syntheticLoss({ classCount: c, seed: 5, kind: "random", quantum: 0.1 });
    const { scorer } = syntheticScorer(loss);
    const run = await selectSigns(scorer, { classCount: c, imageIndices: images(20), strategy: { kind: "exhaustive" }, tolerance: EXACT_TIES });
    for (const r of run.results) expect(r.signs).toEqual(bruteForce(loss, r.index, c, EXACT_TIES).signs);
  });
});

describe("tie rule, deliberately constructed ties", () => {
  const c = 3;
  const cases: { name: string; table: Record<string, number>; fallback: number; expected: string }[] = [
    { name: "all equal: s = 0", table: {}, fallback: 0.5, expected: "000" },
    { name: "s = 0 ties with the minimum", table: { "000": 0.4, "+00": 0.4, "0-+": 0.4 }, fallback: 0.9, expected: "000" },
    { name: "different support sizes", table: { "000": 0.9, "++0": 0.3, "00-": 0.3, "+-+": 0.3 }, fallback: 0.9, expected: "00-" },
    { name: "same support size: 0 < -1 < +1, class 0 first", table: { "000": 0.9, "0+0": 0.2, "-00": 0.2, "+00": 0.2, "00+": 0.2 }, fallback: 0.9, expected: "00+" },
    { name: "same support size, two signs", table: { "000": 0.9, "+0-": 0.2, "-+0": 0.2, "-0+": 0.2 }, fallback: 0.9, expected: "-0+" },
    {
      name: "within the float32 tolerance: the smaller support wins",
      table: { "000": 0.9, "+0+": Math.fround(0.25), "0+0": Math.fround(0.25) + 2 ** -25 },
      fallback: 0.9,
      expected: "0+0",
    },
    { name: "just outside the tolerance: the lower loss wins", table: { "000": 0.9, "+0+": 0.25, "0+0": 0.25 * (1 + 3e-6) }, fallback: 0.9, expected: "+0+" },
  ];
  for (const tc of cases) {
    it(`${tc.name} (exhaustive and beam(9))`, async () => {
      for (const strategy of [{ kind: "exhaustive" }, { kind: "beam", width: 9 }] as SelectionStrategy[]) {
        const { scorer } = syntheticScorer(tableLoss(tc.table, tc.fallback));
        const run = await selectSigns(scorer, { classCount: c, imageIndices: [0, 1], strategy });
        for (const r of run.results) expect(signKey(r.signs)).toBe(tc.expected);
      }
    });
  }

  it("greedy and beam apply the same rule to what they scored", async () => {
    // Four single changes tie at 0.3. Greedy's first sweep scores all of them and picks "00+" by
    // the rule; beam(1) and beam(2) only ever score "-00" and "+00" of them (class 0 first) and
    // pick "-00", the rule's choice among what they scored.
    const table = { "000": 0.5, "+00": 0.3, "0+0": 0.3, "00+": 0.3, "-00": 0.3 };
    const expected: [SelectionStrategy, string][] = [
      [{ kind: "greedy" }, "00+"],
      [{ kind: "beam", width: 1 }, "-00"],
      [{ kind: "beam", width: 2 }, "-00"],
      [{ kind: "beam", width: 9 }, "00+"],
    ];
    for (const [strategy, key] of expected) {
      const { scorer } = syntheticScorer(tableLoss(table, 0.5));
      const run = await selectSigns(scorer, { classCount: 3, imageIndices: [4], strategy });
      expect(signKey(run.results[0]?.signs ?? [])).toBe(key);
      expect(run.results[0]?.chosenLoss).toBe(0.3);
    }
  });

  it("results do not depend on image order, chunk size or concurrency", async () => {
    const c = 4;
    const loss = syntheticLoss({ classCount: c, seed: 3, kind: "random", quantum: 0.04 });
    for (const strategy of ALL_STRATEGIES(c)) {
      const key = (rs: { index: number; signs: Sign[]; chosenLoss: number; candidatesScored: number }[]): string[] =>
        rs
          .slice()
          .sort((a, b) => a.index - b.index)
          .map((r) => `${r.index}:${signKey(r.signs)}:${r.chosenLoss}:${r.candidatesScored}`);
      const idx = images(15);
      const a = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: idx, strategy });
      const b = await selectSigns(syntheticScorer(loss).scorer, {
        classCount: c,
        imageIndices: idx.slice().reverse(),
        strategy,
        maxCandidatesPerRequest: 7,
        concurrency: 3,
      });
      expect(key(b.results)).toEqual(key(a.results));
    }
  });
});

describe("every strategy", () => {
  it("never returns a loss above the clean loss, and reports the true clean and chosen losses", async () => {
    for (let c = 1; c <= 6; c++) {
      for (const kind of KINDS) {
        const loss = syntheticLoss({ classCount: c, seed: 100 + c, kind, interaction: 2 });
        for (const strategy of ALL_STRATEGIES(c)) {
          const run = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: images(8), strategy });
          for (const r of run.results) {
            expect(r.chosenLoss).toBeLessThanOrEqual(r.cleanLoss);
            expect(r.cleanLoss).toBe(loss(r.index, new Array<Sign>(c).fill(0)));
            expect(r.chosenLoss).toBe(loss(r.index, r.signs));
          }
        }
      }
    }
  });

  it("greedy and beam find the optimum of a separable loss", async () => {
    for (let c = 1; c <= 6; c++) {
      const loss = syntheticLoss({ classCount: c, seed: 40 + c, kind: "separable", float32: false });
      const idx = images(10);
      const ex = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: idx, strategy: { kind: "exhaustive" } });
      for (const strategy of [{ kind: "greedy" }, { kind: "beam", width: 1 }, { kind: "beam", width: 2 }] as SelectionStrategy[]) {
        const run = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: idx, strategy });
        run.results.forEach((r, i) => {
          expect(r.chosenLoss).toBeCloseTo(ex.results[i]?.chosenLoss ?? NaN, 12);
          expect(r.signs).toEqual(ex.results[i]?.signs);
        });
      }
    }
  });
});

describe("greedy", () => {
  it("stops, never re-scores a vector, and counts exactly the distinct vectors scored", async () => {
    for (let c = 1; c <= 6; c++) {
      for (const kind of KINDS) {
        const loss = syntheticLoss({ classCount: c, seed: 7 * c, kind, interaction: 3 });
        const s = syntheticScorer(loss);
        const run = await selectSigns(s.scorer, { classCount: c, imageIndices: images(10), strategy: { kind: "greedy" } });
        for (const r of run.results) {
          const seen = s.scoredKeys.get(r.index) as Map<string, number>;
          expect([...seen.values()].every((n) => n === 1)).toBe(true);
          expect(r.candidatesScored).toBe(seen.size);
          expect(r.sweeps).toBeGreaterThanOrEqual(1);
          expect(r.sweeps).toBeLessThanOrEqual(3 * c);
          expect(r.converged).toBe(true);
          expect(r.candidatesScored).toBeGreaterThanOrEqual(1 + 2 * c);
          expect(r.candidatesScored).toBeLessThanOrEqual(greedyCandidateBound(c, r.sweeps as number));
          // converged: no single change of s* improves on it
          for (let k = 0; k < c; k++) {
            for (const v of [-1, 0, 1] as Sign[]) {
              const t = r.signs.slice();
              t[k] = v;
              expect(loss(r.index, t)).toBeGreaterThanOrEqual(r.chosenLoss * (1 - 1e-6));
            }
          }
        }
        expect(s.calls()).toBe(run.rounds); // one request per sweep, all images together
        // a sweep is a round unless every image's neighbours were already scored (only for C = 1)
        const maxSweeps = Math.max(...run.results.map((r) => r.sweeps as number));
        if (c > 1) expect(run.rounds).toBe(maxSweeps);
        else expect(run.rounds).toBeLessThanOrEqual(maxSweeps);
      }
    }
  });

  it("obeys the sweep cap", async () => {
    // A staircase: each step flips one more class to +1 and lowers the loss.
    const loss: Loss = (_i, s) => 1 - 0.1 * s.filter((v) => v === 1).length;
    const one = await selectSigns(syntheticScorer(loss).scorer, { classCount: 5, imageIndices: [0], strategy: { kind: "greedy", maxSweeps: 1 } });
    expect(one.results[0]).toMatchObject({ sweeps: 1, converged: false, candidatesScored: 11, chosenLoss: 0.9, strategy: "greedy(1)" });
    expect(one.results[0]?.signs).toEqual([0, 0, 0, 0, 1]); // five tied single changes: lexicographic rule
    const two = await selectSigns(syntheticScorer(loss).scorer, { classCount: 5, imageIndices: [0], strategy: { kind: "greedy", maxSweeps: 2 } });
    expect(two.results[0]).toMatchObject({ sweeps: 2, converged: false, candidatesScored: 11 + 8 });
    const full = await selectSigns(syntheticScorer(loss).scorer, { classCount: 5, imageIndices: [0], strategy: { kind: "greedy" } });
    // Path 00000 → 0000+ → 000++ → 00+++ → 0++++ → +++++ (5 moves, 6 sweeps); later sweeps meet
    // vectors scored around earlier centres, so the count is the exact path formula, below the bound.
    const path: Sign[][] = [0, 1, 2, 3, 4, 5].map((m) => [0, 1, 2, 3, 4].map((k) => (k >= 5 - m ? 1 : 0)));
    expect(greedyCandidateCountForPath(path)).toBe(47);
    expect(greedyCandidateBound(5, 6)).toBe(51);
    expect(full.results[0]).toMatchObject({ sweeps: 6, converged: true, candidatesScored: 47 });
    expect(full.results[0]?.signs).toEqual([1, 1, 1, 1, 1]);
    expect(full.results[0]?.chosenLoss).toBeCloseTo(0.5, 12);
  });
});

describe("beam", () => {
  it("scores exactly 1 + Σ 2·min(k, 3^c) distinct candidates", async () => {
    for (let c = 1; c <= 6; c++) {
      for (const width of [1, 2, 3, 5, 10]) {
        const s = syntheticScorer(syntheticLoss({ classCount: c, seed: c, kind: "random" }));
        const run = await selectSigns(s.scorer, { classCount: c, imageIndices: images(4), strategy: { kind: "beam", width } });
        for (const r of run.results) {
          expect(r.candidatesScored).toBe(beamCandidateCount(c, width));
          const seen = s.scoredKeys.get(r.index) as Map<string, number>;
          expect(seen.size).toBe(r.candidatesScored);
          expect([...seen.values()].every((n) => n === 1)).toBe(true);
        }
        expect(s.calls()).toBe(c); // one round per class, all images in one request
      }
    }
  });

  it("with k ≥ 3^(C-1) equals exhaustive", async () => {
    for (let c = 1; c <= 6; c++) {
      for (const kind of KINDS) {
        const loss = syntheticLoss({ classCount: c, seed: 9 + c, kind, quantum: kind === "random" ? 0.03 : undefined });
        const idx = images(6);
        const ex = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: idx, strategy: { kind: "exhaustive" } });
        for (const width of [3 ** (c - 1), 3 ** c]) {
          const bm = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: idx, strategy: { kind: "beam", width } });
          bm.results.forEach((r, i) => {
            expect(r.signs).toEqual(ex.results[i]?.signs);
            expect(r.chosenLoss).toBe(ex.results[i]?.chosenLoss);
            expect(r.candidatesScored).toBe(3 ** c);
          });
        }
      }
    }
  });

  it("beam(1) is one cyclic coordinate pass in class order", async () => {
    for (let c = 1; c <= 6; c++) {
      const loss = syntheticLoss({ classCount: c, seed: 77 + c, kind: "pairwise", interaction: 3 });
      const idx = images(10);
      const run = await selectSigns(syntheticScorer(loss).scorer, { classCount: c, imageIndices: idx, strategy: { kind: "beam", width: 1 } });
      run.results.forEach((r) => {
        // reference: for each class in order pick the best of the 3 values given the earlier ones,
        // then the best vector seen (tie rule handled by the shared pickBest semantics: strict < here,
        // with ties impossible for this continuous loss).
        const cur = new Array<Sign>(c).fill(0);
        const seen: { s: Sign[]; l: number }[] = [{ s: cur.slice(), l: loss(r.index, cur) }];
        for (let k = 0; k < c; k++) {
          let best = cur.slice();
          let bestL = loss(r.index, best);
          for (const v of [-1, 1] as Sign[]) {
            const t = cur.slice();
            t[k] = v;
            const l = loss(r.index, t);
            seen.push({ s: t, l });
            if (l < bestL) {
              best = t;
              bestL = l;
            }
          }
          cur.splice(0, c, ...best);
        }
        const min = seen.reduce((a, b) => (b.l < a.l ? b : a));
        expect(r.chosenLoss).toBe(min.l);
        expect(r.signs).toEqual(min.s);
        expect(r.candidatesScored).toBe(1 + 2 * c);
      });
    }
  });
});

describe("batching", () => {
  it("batches every step across images and bounds request size", async () => {
    const c = 4;
    const loss = syntheticLoss({ classCount: c, seed: 1, kind: "pairwise" });
    const calls: ScoreRequest[] = [];
    const inner = syntheticScorer(loss).scorer;
    const spy: CandidateScorer = (req, o) => {
      calls.push(req);
      return inner(req, o);
    };
    const idx = images(10);
    // exhaustive: 81 per image, 10 images, one request
    await selectSigns(spy, { classCount: c, imageIndices: idx, strategy: { kind: "exhaustive" } });
    expect(calls.length).toBe(1);
    expect(calls[0]?.imageIndices).toEqual(idx);
    // bound 200: two images (162) per request → 5 requests, each image's 81 in one piece
    calls.length = 0;
    await selectSigns(spy, { classCount: c, imageIndices: idx, strategy: { kind: "exhaustive" }, maxCandidatesPerRequest: 200 });
    expect(calls.length).toBe(5);
    expect(calls.every((r) => r.imageIndices.length === 2 && r.candidates.every((l) => l.length === 81))).toBe(true);
    // bound 30: an image's 81 split in 3 slices of 27
    calls.length = 0;
    await selectSigns(spy, { classCount: c, imageIndices: idx, strategy: { kind: "exhaustive" }, maxCandidatesPerRequest: 30 });
    expect(calls.length).toBe(30);
    expect(calls.every((r) => r.imageIndices.length === 1 && r.candidates[0]?.length === 27)).toBe(true);
    // beam: C rounds of one request each, every image in each
    calls.length = 0;
    await selectSigns(spy, { classCount: c, imageIndices: idx, strategy: { kind: "beam", width: 2 } });
    expect(calls.length).toBe(c);
    expect(calls.every((r) => r.imageIndices.length === idx.length)).toBe(true);
    expect(calls[0]?.candidates[0]?.length).toBe(3); // s = 0 and ±e_0
    // greedy with a small bound: requests never exceed it
    calls.length = 0;
    await selectSigns(spy, { classCount: c, imageIndices: idx, strategy: { kind: "greedy" }, maxCandidatesPerRequest: 25 });
    expect(calls.every((r) => r.candidates.reduce((a, l) => a + l.length, 0) <= 25)).toBe(true);
    expect(calls[0]?.candidates[0]?.length).toBe(1 + 2 * c); // s = 0 with the first sweep
  });

  it("rejects bad scorer answers and bad options", async () => {
    const base = { classCount: 2, imageIndices: [0, 1], strategy: { kind: "exhaustive" } as SelectionStrategy };
    const short: CandidateScorer = async (req) => req.candidates.slice(1).map((l) => l.map(() => 1));
    await expect(selectSigns(short, base)).rejects.toThrow(/loss rows/);
    const ragged: CandidateScorer = async (req) => req.candidates.map((l) => l.slice(1).map(() => 1));
    await expect(selectSigns(ragged, base)).rejects.toThrow(/expected 9/);
    const nan: CandidateScorer = async (req) => req.candidates.map((l) => l.map(() => NaN));
    await expect(selectSigns(nan, base)).rejects.toThrow(SelectionError);
    const ok = syntheticScorer(() => 1).scorer;
    await expect(selectSigns(ok, { ...base, imageIndices: [1, 1] })).rejects.toThrow(/twice/);
    await expect(selectSigns(ok, { ...base, classCount: 0 })).rejects.toThrow(/classCount/);
    await expect(selectSigns(ok, { ...base, strategy: { kind: "beam", width: 0 } })).rejects.toThrow(SelectionError);
    await expect(selectSigns(ok, { ...base, maxCandidatesPerRequest: 0 })).rejects.toThrow(/maxCandidatesPerRequest/);
    await expect(selectSigns(ok, { ...base, classCount: 17 })).rejects.toThrow(/3\^17/);
    const ac = new AbortController();
    ac.abort();
    await expect(selectSigns(ok, { ...base, signal: ac.signal })).rejects.toThrow();
    const empty = await selectSigns(ok, { ...base, imageIndices: [] });
    expect(empty).toMatchObject({ results: [], scorerCalls: 0 });
  });

  it("reports progress after every request", async () => {
    const seen: number[] = [];
    const run = await selectSigns(syntheticScorer(() => 1).scorer, {
      classCount: 3,
      imageIndices: images(4),
      strategy: { kind: "exhaustive" },
      maxCandidatesPerRequest: 27,
      onProgress: (p) => seen.push(p.candidatesScored),
    });
    expect(seen).toEqual([27, 54, 81, 108]);
    expect(run.scorerCalls).toBe(4);
  });
});

describe("strategy names", () => {
  it("parses and labels", () => {
    expect(parseStrategy("exhaustive")).toEqual({ kind: "exhaustive" });
    expect(parseStrategy("greedy")).toEqual({ kind: "greedy" });
    expect(parseStrategy("greedy(4)")).toEqual({ kind: "greedy", maxSweeps: 4 });
    expect(parseStrategy("beam(3)")).toEqual({ kind: "beam", width: 3 });
    expect(parseStrategy("beam:5")).toEqual({ kind: "beam", width: 5 });
    expect(() => parseStrategy("beam(0)")).toThrow(SelectionError);
    expect(() => parseStrategy("random")).toThrow(SelectionError);
    expect(strategyLabel({ kind: "beam", width: 3 })).toBe("beam(3)");
  });
});
