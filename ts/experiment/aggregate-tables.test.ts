import { describe, expect, it } from "vitest";
import { summarize } from "../metrics/intervals.js";
import { aggregateTable, trustTable, worstCaseMembersTable } from "./aggregate-tables.js";
import { aggregateSeeds, type MetricValues } from "./seed-aggregate.js";

const v = (fg: number): MetricValues => ({ pixelAccuracy: 0.9, foregroundAccuracy: fg, meanIoU: 0.5, meanDice: 0.6, meanLoss: 0.25, foregroundToBackground: 0.1 });

describe("aggregate tables", () => {
  it("prints mean ± sd and the paired difference with its verdict", () => {
    const rows = aggregateSeeds([
      { seed: 0, rows: [{ model: "M1", protocol: "white-box", values: v(0.6) }, { model: "M4", protocol: "white-box", values: v(0.71) }] },
      { seed: 1, rows: [{ model: "M1", protocol: "white-box", values: v(0.7) }, { model: "M4", protocol: "white-box", values: v(0.82) }] },
      { seed: 2, rows: [{ model: "M1", protocol: "white-box", values: v(0.65) }, { model: "M4", protocol: "white-box", values: v(0.75) }] },
    ]);
    const table = aggregateTable(rows, (m) => `${m} (x)`).split("\n");
    expect(table[0]).toContain("Δ foreground accuracy vs M1 (95% CI, 3 seeds)");
    expect(table[2]).toBe("| M1 (x) | 0.2500 ± 0.0000 | 0.9000 ± 0.0000 | 0.6500 ± 0.0500 | 0.5000 ± 0.0000 | 0.1000 ± 0.0000 | — |");
    // differences 0.11, 0.12, 0.10: mean 0.11, sd 0.01, half-width 4.302653 · 0.01/√3 = 0.0248
    expect(table[3]).toContain("| +0.110 [+0.085, +0.135] (higher, beyond the seed spread) |");
  });

  it("prints each ensemble member beside the worst case", () => {
    const t = worstCaseMembersTable(["APGD CE", "PGD"], [{ model: "M1", members: [summarize([0.5, 0.6]), summarize([0.4, 0.4])], worstCase: summarize([0.3, 0.35]), chosen: [10, 86] }]);
    expect(t.split("\n")[2]).toBe("| M1 | 0.550 ± 0.071 (10) | 0.400 ± 0.000 (86) | 0.325 ± 0.035 |");
  });

  it("lists flagged trust checks only", () => {
    expect(trustTable([])).toMatch(/^No trust checks ran/);
    expect(trustTable([{ check: "large-epsilon", model: "M2", flagged: false, message: "ok" }])).toBe("1 checks, 0 flagged. None of the signs of gradient masking or a weak attack showed.");
    const t = trustTable([{ check: "large-epsilon", model: "M2", flagged: true, message: "a | b", seed: 1 }]);
    expect(t).toContain("| M2 | large-epsilon | 1 | a \\| b |");
  });
});
