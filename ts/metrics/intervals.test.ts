import { describe, expect, it } from "vitest";
import { formatDifference, formatMeanSd, pairedDifference, signOfInterval, studentTCdf, studentTQuantile, summarize } from "./intervals.js";

describe("Student's t", () => {
  it("has the tabulated 97.5% quantiles", () => {
    // Standard t tables (two-sided 95%): df 1, 2, 4, 9, 30.
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062, 4);
    expect(studentTQuantile(0.975, 2)).toBeCloseTo(4.3027, 4);
    expect(studentTQuantile(0.975, 4)).toBeCloseTo(2.7764, 4);
    expect(studentTQuantile(0.975, 9)).toBeCloseTo(2.2622, 4);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.0423, 4);
    expect(studentTQuantile(0.025, 2)).toBeCloseTo(-4.3027, 4);
  });

  it("has the CDF of one degree of freedom (Cauchy) in closed form", () => {
    for (const t of [-3, -0.5, 0, 1, 7]) expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
  });
});

describe("summarize", () => {
  it("gives mean, sd and the t-interval worked out by hand", () => {
    // 0.7, 0.8, 0.9: mean 0.8, sd 0.1, half-width 4.302653 · 0.1 / √3 = 0.248414
    const s = summarize([0.7, 0.8, 0.9]);
    expect(s.n).toBe(3);
    expect(s.mean).toBeCloseTo(0.8, 12);
    expect(s.sd).toBeCloseTo(0.1, 12);
    expect(s.halfWidth).toBeCloseTo(0.248414, 6);
    expect(s.ciLow).toBeCloseTo(0.551586, 6);
    expect(s.ciHigh).toBeCloseTo(1.048414, 6);
  });

  it("has no spread or interval for one value, and nothing for none; skips nulls", () => {
    expect(summarize([0.5])).toMatchObject({ n: 1, mean: 0.5, sd: null, ciLow: null, ciHigh: null });
    expect(summarize([])).toMatchObject({ n: 0, mean: null });
    expect(summarize([0.2, null, 0.4, Number.NaN])).toMatchObject({ n: 2, mean: expect.closeTo(0.3, 12) });
  });
});

describe("pairedDifference", () => {
  it("differences seed by seed, then the interval of the differences", () => {
    // d = 0.10, 0.05, 0.15: mean 0.1, sd 0.05, half-width 4.302653 · 0.05 / √3 = 0.124207
    const d = pairedDifference([0.7, 0.75, 0.8], [0.6, 0.7, 0.65]);
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.sd).toBeCloseTo(0.05, 12);
    expect(d.halfWidth).toBeCloseTo(0.124207, 6);
    expect(signOfInterval(d)).toBe(0);
    // a consistent difference: the interval excludes zero
    expect(signOfInterval(pairedDifference([0.71, 0.72, 0.73], [0.6, 0.6, 0.6]))).toBe(1);
    expect(signOfInterval(pairedDifference([0.5], [0.6]))).toBeNull();
  });

  it("drops pairs with a missing side and refuses unequal lengths", () => {
    expect(pairedDifference([0.5, null, 0.7], [0.4, 0.3, null]).n).toBe(1);
    expect(() => pairedDifference([1, 2], [1])).toThrow(/equal lengths/);
  });
});

describe("formatting", () => {
  it("prints mean ± sd and signed differences with their interval", () => {
    expect(formatMeanSd(summarize([0.7, 0.8, 0.9]))).toBe("0.800 ± 0.100");
    expect(formatMeanSd(summarize([0.7]))).toBe("0.700");
    expect(formatDifference(pairedDifference([0.7, 0.75, 0.8], [0.6, 0.7, 0.65]))).toBe("+0.100 [−0.024, +0.224]");
  });
});
