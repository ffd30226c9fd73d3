// The surrogate strategy's pools and budget, on a synthetic loss whose estimator is told the
// loss plus a controlled error (no worker).
import { describe, expect, it } from "vitest";
import { allSignVectors, signKey, type SignVector } from "./signs.js";
import type { CandidateEstimator } from "./scoring.js";
import { selectSigns } from "./strategies.js";
import { defaultSurrogateBudget, hammingBall, surrogatePool } from "./surrogate.js";
import { mulberry32, syntheticLoss, syntheticScorer } from "./synthetic.js";

const distance = (a: SignVector, b: SignVector): number => a.filter((v, j) => v !== b[j]).length;

/** Estimates: the true loss off the centre's basis plus `noise` × a per-candidate error; exact on the basis. */
function estimatorOf(loss: (image: number, s: SignVector) => number, noise: number): CandidateEstimator {
  return async (request) =>
    request.imageIndices.map((image, j) => {
      const centre = request.centres[j] as SignVector;
      const rows = request.candidates[j] ?? [];
      const exact = rows.map((s) => distance(s, centre) <= 1);
      const values = rows.map((s, k) => {
        if (exact[k]) return loss(image, s);
        const rng = mulberry32(image * 7919 + [...signKey(s)].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) | 0, 17));
        return loss(image, s) + noise * (rng() - 0.5);
      });
      return { values, exact };
    });
}

describe("surrogate pools", () => {
  it("the first centre estimates every vector (up to 3^7), later centres their radius-2 ball", () => {
    const zero: SignVector = [0, 0, 0, 0, 0, 0];
    expect(surrogatePool(zero)).toHaveLength(3 ** 6);
    const later = surrogatePool([1, 0, -1, 0, 0, 1], false);
    // 1 + 2C + 4·C(C, 2) vectors within two changes of the centre, every one distinct.
    expect(later).toHaveLength(1 + 12 + 4 * 15);
    expect(new Set(later.map(signKey)).size).toBe(later.length);
    expect(later.every((s) => distance(s, [1, 0, -1, 0, 0, 1]) <= 2)).toBe(true);
    expect(surrogatePool(new Array(8).fill(0))).toHaveLength(hammingBall(new Array(8).fill(0), 3).length);
  });
});

describe("the surrogate strategy", () => {
  const classCount = 6;
  const images = Array.from({ length: 12 }, (_, i) => i);
  const loss = syntheticLoss({ kind: "pairwise", classCount, seed: 4 });
  const optimum = (image: number) => Math.min(...[...allSignVectors(classCount)].map((s) => loss(image, s)));

  it("with exact estimates finds every image's optimum within its budget", async () => {
    const scoring = syntheticScorer(loss);
    const run = await selectSigns(scoring.scorer, { classCount, imageIndices: images, strategy: { kind: "surrogate" }, estimator: estimatorOf(loss, 0) });
    for (const r of run.results) expect(r.chosenLoss).toBe(optimum(r.index));
    for (const r of run.results) expect(r.candidatesScored).toBeLessThanOrEqual(defaultSurrogateBudget(classCount));
  });

  it("keeps to the budget when estimates are poor, and never returns worse than the clean image", async () => {
    const scoring = syntheticScorer(loss);
    const run = await selectSigns(scoring.scorer, { classCount, imageIndices: images, strategy: { kind: "surrogate", budget: 30 }, estimator: estimatorOf(loss, 5) });
    for (const r of run.results) {
      expect(r.candidatesScored).toBeLessThanOrEqual(30);
      expect(r.chosenLoss).toBeLessThanOrEqual(loss(r.index, new Array(classCount).fill(0)));
    }
  });
});
