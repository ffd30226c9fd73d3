import { describe, expect, it } from "vitest";
import { runTrustChecks, trustFlags } from "./trust-checks.js";

const curve = (model: string, accs: number[], eps = [0, 0.005, 0.01, 0.02]) => ({
  model,
  label: `${model} PGD`,
  points: eps.map((epsilon, i) => ({ epsilon, foregroundAccuracy: accs[i] ?? null })),
});

describe("ε-sweep check", () => {
  it("passes a falling curve and flags a rise or a flat curve", () => {
    const results = runTrustChecks({
      sweeps: [curve("M1", [0.8, 0.7, 0.6, 0.4]), curve("M2", [0.8, 0.7, 0.75, 0.5]), curve("M3", [0.8, 0.8, 0.799, 0.798]), curve("M4", [0.8, 0.802, 0.79, 0.6])],
    });
    expect(results.map((r) => [r.model, r.flagged])).toEqual([
      ["M1", false],
      ["M2", true],
      ["M3", true],
      ["M4", false], // +0.002 is within the tolerance
    ]);
    expect(results[1]?.message).toBe("M2 PGD: foreground accuracy rises from 0.7000 at ε = 0.005 to 0.7500 at ε = 0.01");
    expect(results[2]?.message).toBe("M3 PGD: foreground accuracy does not fall from ε = 0 (0.8000) to ε = 0.02 (0.7980)");
  });

  it("does not call a curve flat that starts with nothing left to take", () => {
    expect(runTrustChecks({ sweeps: [curve("M1", [0.05, 0.05, 0.05, 0.05])] })[0]?.flagged).toBe(false);
    expect(runTrustChecks({ sweeps: [curve("M1", [0.05, 0.09, 0.05, 0.05])] })[0]?.flagged).toBe(true); // a rise still is
  });

  it("sorts points by ε, skips undefined accuracies and single-ε curves", () => {
    const shuffled = { model: "M1", label: "x", points: [{ epsilon: 0.02, foregroundAccuracy: 0.3 }, { epsilon: 0, foregroundAccuracy: 0.8 }, { epsilon: 0.01, foregroundAccuracy: null }] };
    expect(runTrustChecks({ sweeps: [shuffled] })[0]?.flagged).toBe(false);
    expect(runTrustChecks({ sweeps: [curve("M1", [0.5], [0.01])] })).toEqual([]);
  });
});

describe("transfer, steps and large-ε checks", () => {
  it("flags a transfer attack stronger than the white-box one, ignoring the source model itself", () => {
    const results = runTrustChecks({
      transfer: [
        { model: "M1", attackModel: "M1", whiteBox: 0.5, transfer: 0.3 },
        { model: "M2", attackModel: "M1", whiteBox: 0.5, transfer: 0.45 },
        { model: "M3", attackModel: "M1", whiteBox: 0.5, transfer: 0.6 },
      ],
    });
    expect(results.map((r) => [r.model, r.flagged])).toEqual([
      ["M2", true],
      ["M3", false],
    ]);
  });

  it("flags more steps leaving more accuracy, and a large ε leaving more than 10%", () => {
    const results = runTrustChecks({
      steps: [
        { model: "M1", steps: 10, foregroundAccuracy: 0.4, moreSteps: 40, moreStepsForegroundAccuracy: 0.3 },
        { model: "M2", steps: 10, foregroundAccuracy: 0.4, moreSteps: 40, moreStepsForegroundAccuracy: 0.45 },
      ],
      largeEpsilon: [
        { model: "M1", epsilon: 0.1, foregroundAccuracy: 0.02 },
        { model: "M2", epsilon: 0.1, foregroundAccuracy: 0.35 },
      ],
    });
    expect(trustFlags(results).map((r) => `${r.check} ${r.model}`)).toEqual(["more-steps M2", "large-epsilon M2"]);
    expect(results[3]?.message).toBe("foreground accuracy 0.3500 at ε = 0.1 (above 0.1000): the attack barely works where it should win");
  });

  it("takes its tolerance and ceiling from the options", () => {
    const input = { largeEpsilon: [{ model: "M1", epsilon: 0.1, foregroundAccuracy: 0.15 }], steps: [{ model: "M1", steps: 5, foregroundAccuracy: 0.4, moreSteps: 20, moreStepsForegroundAccuracy: 0.41 }] };
    expect(trustFlags(runTrustChecks(input)).length).toBe(2);
    expect(trustFlags(runTrustChecks(input, { tolerance: 0.02, largeEpsilonMaxAccuracy: 0.2 })).length).toBe(0);
  });
});
