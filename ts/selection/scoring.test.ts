import { describe, expect, it } from "vitest";

import { planRequests, type ImageCandidates } from "./scoring.js";
import type { Sign } from "./signs.js";

const list = (n: number, c = 2): Sign[][] => Array.from({ length: n }, (_, i) => [((i % 3) - 1) as Sign, ...new Array<Sign>(c - 1).fill(0)]);

describe("planRequests", () => {
  it("packs whole images while they fit and splits oversized lists evenly", () => {
    const work: ImageCandidates[] = [
      { image: 5, candidates: list(4) },
      { image: 6, candidates: list(4) },
      { image: 7, candidates: list(0) },
      { image: 8, candidates: list(3) },
      { image: 9, candidates: list(11) },
      { image: 10, candidates: list(2) },
    ];
    const plans = planRequests(work, 8);
    expect(plans.map((p) => p.request.imageIndices)).toEqual([[5, 6], [8], [9], [9], [10]]);
    expect(plans.map((p) => p.request.candidates.map((l) => l.length))).toEqual([[4, 4], [3], [6], [5], [2]]);
    expect(plans[3]?.slices).toEqual([{ work: 4, start: 6 }]);
    for (const p of plans) expect(p.request.candidates.flat().length).toBeLessThanOrEqual(8);
  });
});
