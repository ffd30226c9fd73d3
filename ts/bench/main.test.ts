// The bench's command line: --only names measurement groups; the file name says what was run.
import { describe, expect, it } from "vitest";
import { parseGroups, resultBaseName } from "./main.js";
import { BENCH_GROUPS } from "./suite.js";

describe("npm run bench -- --only", () => {
  it("takes known groups in the suite's order, once each", () => {
    expect(parseGroups("curves, pgd,pgd")).toEqual(["pgd", "curves"]);
    expect(() => parseGroups("pgd,gpu")).toThrow(/got gpu/);
    expect(() => parseGroups(" , ")).toThrow(/comma-separated list of pgd, method-one/);
  });

  it("names a partial run's files after its groups", () => {
    const base = { startedAt: "2026-12-02T05:00:00Z", machine: { device: "NVIDIA H200" }, size: "paper" };
    expect(resultBaseName({ ...base, groups: [...BENCH_GROUPS] })).toBe("2026-12-02-nvidia-h200-paper");
    expect(resultBaseName({ ...base, groups: ["pgd", "curves"] })).toBe("2026-12-02-nvidia-h200-paper-pgd+curves");
  });
});
