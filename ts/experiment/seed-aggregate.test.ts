import { describe, expect, it } from "vitest";
import { aggregateSeeds, aggregateSweepPoints, type MetricValues } from "./seed-aggregate.js";

const values = (foregroundAccuracy: number | null, pixelAccuracy = 0.9): MetricValues => ({
  pixelAccuracy,
  foregroundAccuracy,
  meanIoU: 0.5,
  meanDice: 0.6,
  meanLoss: 0.3,
  foregroundToBackground: null,
});

describe("aggregateSeeds", () => {
  const perSeed = [
    { seed: 0, rows: [{ model: "M1", protocol: "white-box", values: values(0.6) }, { model: "M4", protocol: "white-box", values: values(0.7) }] },
    { seed: 1, rows: [{ model: "M1", protocol: "white-box", values: values(0.7) }, { model: "M4", protocol: "white-box", values: values(0.75) }] },
    { seed: 2, rows: [{ model: "M1", protocol: "white-box", values: values(0.65) }, { model: "M4", protocol: "white-box", values: values(0.8) }] },
  ];

  it("summarises each metric over seeds (hand-computed interval)", () => {
    const [m1, m4] = aggregateSeeds(perSeed);
    expect(m1?.seeds).toEqual([0, 1, 2]);
    // M4: 0.70, 0.75, 0.80 → mean 0.75, sd 0.05, half-width 4.302653 · 0.05 / √3 = 0.124207
    expect(m4?.metrics.foregroundAccuracy.mean).toBeCloseTo(0.75, 12);
    expect(m4?.metrics.foregroundAccuracy.sd).toBeCloseTo(0.05, 12);
    expect(m4?.metrics.foregroundAccuracy.ciLow).toBeCloseTo(0.625793, 6);
    expect(m4?.metrics.foregroundToBackground.n).toBe(0);
  });

  it("pairs each model with M1 seed by seed under the same protocol", () => {
    const [m1, m4] = aggregateSeeds(perSeed);
    expect(m1?.differenceToReference).toBeNull();
    // differences 0.10, 0.05, 0.15: mean 0.1, sd 0.05; half-width 0.124207
    const d = m4?.differenceToReference?.foregroundAccuracy;
    expect(d?.mean).toBeCloseTo(0.1, 12);
    expect(d?.halfWidth).toBeCloseTo(0.124207, 6);
    expect(m4?.differenceToReference?.pixelAccuracy.mean).toBeCloseTo(0, 12);
  });

  it("pairs only the seeds both models have", () => {
    const partial = [...perSeed.slice(0, 2), { seed: 2, rows: [{ model: "M4", protocol: "white-box", values: values(0.8) }] }];
    const m4 = aggregateSeeds(partial)[1];
    expect(m4?.metrics.foregroundAccuracy.n).toBe(3);
    expect(m4?.differenceToReference?.foregroundAccuracy.n).toBe(2);
  });
});

describe("aggregateSweepPoints", () => {
  it("summarises every ε of every sweep, ascending", () => {
    const point = (epsilon: number, acc: number) => ({ id: "sweep-1-M1", model: "M1", epsilon, values: values(acc) });
    const out = aggregateSweepPoints([
      { seed: 0, points: [point(0.01, 0.5), point(0, 0.8)] },
      { seed: 1, points: [point(0, 0.9), point(0.01, 0.6)] },
    ]);
    expect(out.map((p) => [p.epsilon, p.metrics.foregroundAccuracy.mean])).toEqual([
      [0, expect.closeTo(0.85, 12)],
      [0.01, expect.closeTo(0.55, 12)],
    ]);
    // two seeds: t_{0.975, 1} = 12.7062, sd = 0.0707107 → half-width 0.635310
    expect(out[0]?.metrics.foregroundAccuracy.halfWidth).toBeCloseTo(0.63531, 4);
  });
});
