import { describe, expect, it } from "vitest";

import { packCandidates, planRequests, unpackCandidates, unpackLosses, type ImageCandidates } from "./scoring.js";
import { SelectionError, type Sign } from "./signs.js";

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

describe("wire packing", () => {
  it("packs a ragged request into int8 (N, K, C) with padding and unpacks it again", () => {
    const request = {
      imageIndices: [3, 1],
      candidates: [
        [
          [1, 0, -1],
          [0, 0, 0],
          [-1, -1, 1],
        ] as Sign[][],
        [[0, 1, 0]] as Sign[][],
      ],
    };
    const packed = packCandidates(request, 3);
    expect(packed.shape).toEqual([2, 3, 3]);
    expect(packed.padded).toBe(2);
    expect(Array.from(packed.data)).toEqual([1, 0, -1, 0, 0, 0, -1, -1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0]);
    expect(unpackCandidates(packed)).toEqual(request.candidates);
    const losses = new Float64Array([0.1, 0.2, 0.3, 0.4, 0.4, 0.4]);
    expect(unpackLosses(losses, packed)).toEqual([[0.1, 0.2, 0.3], [0.4]]);
    expect(() => unpackLosses(new Float64Array(5), packed)).toThrow(SelectionError);
    expect(() => packCandidates({ imageIndices: [0], candidates: [[[2, 0, 0] as unknown as Sign[]]] }, 3)).toThrow(/expected -1, 0 or 1/);
    expect(() => packCandidates({ imageIndices: [0], candidates: [[[0, 0]]] }, 3)).toThrow(/length 2/);
  });
});
