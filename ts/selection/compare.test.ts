import { describe, expect, it } from "vitest";

import { compareSelections, recordingScorer, runSelectionComparison, tableScorer } from "./compare.js";
import { SelectionError } from "./signs.js";
import type { ImageSelection } from "./strategies.js";
import { syntheticLoss, syntheticScorer } from "./synthetic.js";

const sel = (index: number, signs: (-1 | 0 | 1)[], cleanLoss: number, chosenLoss: number, candidatesScored: number, strategy: string): ImageSelection => ({
  index,
  signs,
  cleanLoss,
  chosenLoss,
  candidatesScored,
  strategy,
});

describe("compareSelections", () => {
  it("matches hand-computed figures", () => {
    const optimum = [sel(0, [1, 0], 1, 0.5, 9, "exhaustive"), sel(1, [0, 0], 1, 1, 9, "exhaustive"), sel(2, [-1, 1], 2, 1, 9, "exhaustive")];
    const greedy = [
      sel(2, [1, 1], 2, 1.5, 6, "greedy"), // gap 0.5
      sel(0, [0, 1], 1, 0.5, 5, "greedy"), // same loss, other signs: optimum found
      sel(1, [0, 0], 1, 1, 5, "greedy"),
    ];
    const c = compareSelections(optimum, [greedy], 2);
    expect(c).toMatchObject({ classCount: 2, images: 3, exhaustiveCandidates: 9 });
    expect(c.exhaustive).toMatchObject({ meanCleanLoss: 4 / 3, meanLossReduction: 0.5, imagesChanged: 2 });
    const g = c.strategies[0];
    expect(g).toMatchObject({ strategy: "greedy", images: 3, optimumFound: 2, sameSigns: 1, maxLossGap: 0.5 });
    expect(g?.optimumShare).toBeCloseTo(2 / 3, 12);
    expect(g?.meanLossGap).toBeCloseTo(0.5 / 3, 12);
    expect(g?.reductionCaptured).toBeCloseTo((0.5 + 0 + 0.5) / 1.5, 12);
    expect(g?.meanCandidatesScored).toBeCloseTo(16 / 3, 12);
    expect(g?.candidateShare).toBeCloseTo(16 / 27, 12);
    expect(() => compareSelections(optimum, [greedy.slice(1)], 2)).toThrow(SelectionError);
  });
});

describe("runSelectionComparison", () => {
  it("scores 3^C once and answers the other strategies from those losses", async () => {
    const c = 4;
    const s = syntheticScorer(syntheticLoss({ classCount: c, seed: 2, kind: "pairwise", interaction: 1 }));
    const idx = Array.from({ length: 20 }, (_, i) => i);
    const strategies = [{ kind: "greedy" } as const, { kind: "beam", width: 1 } as const, { kind: "beam", width: 27 } as const];
    const res = await runSelectionComparison(s.scorer, { classCount: c, imageIndices: idx, strategies });
    expect(s.candidates()).toBe(20 * 81); // only the exhaustive pass reached the scorer
    const [greedy, beam1, beam27] = res.comparison.strategies;
    expect(beam27).toMatchObject({ strategy: "beam(27)", optimumShare: 1, sameSignsShare: 1, maxLossGap: 0, candidateShare: 1 });
    expect(beam1?.meanCandidatesScored).toBe(1 + 2 * c);
    expect(greedy?.meanLossGap).toBeGreaterThanOrEqual(0);
    expect(greedy?.unconverged).toBe(0);
    expect(greedy?.meanSweeps).toBeGreaterThanOrEqual(1);
    expect(beam1?.meanSweeps).toBeUndefined();
    for (const x of res.comparison.strategies) expect(x.optimumShare).toBeGreaterThanOrEqual(0.5);
    // the same figures when every strategy asks the scorer itself
    const fresh = syntheticScorer(syntheticLoss({ classCount: c, seed: 2, kind: "pairwise", interaction: 1 }));
    const direct = await runSelectionComparison(fresh.scorer, { classCount: c, imageIndices: idx, strategies, reuseExhaustiveScores: false });
    expect(direct.comparison).toEqual(res.comparison);
    expect(fresh.candidates()).toBeGreaterThan(20 * 81);
  });

  it("table scorer refuses vectors it never saw", async () => {
    const rec = recordingScorer(syntheticScorer(() => 1).scorer);
    await rec.scorer({ imageIndices: [0], candidates: [[[0, 1]]] }, {});
    expect(rec.table.get(0)?.get("0+")).toBe(1);
    const t = tableScorer(rec.table);
    await expect(t({ imageIndices: [0], candidates: [[[0, 1]]] }, {})).resolves.toEqual([[1]]);
    await expect(t({ imageIndices: [0], candidates: [[[1, 1]]] }, {})).rejects.toThrow(/no stored loss/);
  });
});
