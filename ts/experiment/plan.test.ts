import { describe, expect, it } from "vitest";
import { planExperiment, stageDependencies } from "./plan.js";
import { loadSpec } from "./spec.js";

describe("the stage plan", () => {
  it("orders data → M1 → D1, D2 → M2, M3, M4 → evaluations, with M4 on clean ∪ D1 ∪ D2 for round(E/3) epochs", async () => {
    const spec = await loadSpec({ preset: "demo", overrides: { training: { epochs: 10 } } });
    const stages = planExperiment(spec);
    expect(stages.map((s) => s.id)).toEqual([
      "data",
      "train-M1",
      "method-one",
      "method-two",
      "train-M2",
      "train-M3",
      "train-M4",
      "evaluate-M1-clean",
      "evaluate-M2-clean",
      "evaluate-M3-clean",
      "evaluate-M4-clean",
      "evaluate-M1-white-box",
      "evaluate-M2-white-box",
      "evaluate-M3-white-box",
      "evaluate-M4-white-box",
      "transfer-attack",
      "evaluate-M1-transfer",
      "evaluate-M2-transfer",
      "evaluate-M3-transfer",
      "evaluate-M4-transfer",
      "check-large-epsilon-M1",
      "check-large-epsilon-M2",
      "check-large-epsilon-M3",
      "check-large-epsilon-M4",
      "check-more-steps-M1",
      "check-more-steps-M2",
      "check-more-steps-M3",
      "check-more-steps-M4",
      "sweep-1-M1",
      "sweep-1-M4",
      "figures",
    ]);
    const trains = stages.flatMap((s) => (s.kind === "train" ? [[s.model, s.trainOn, s.epochs]] : []));
    expect(trains).toEqual([
      ["M1", ["train"], 10],
      ["M2", ["D1"], 10],
      ["M3", ["D2"], 10],
      ["M4", ["train", "D1", "D2"], 3],
    ]);
    // Every stage comes after the stages whose outputs it uses.
    const index = new Map(stages.map((s, i) => [s.id, i]));
    for (const s of stages) {
      if (s.kind === "method-one" || s.kind === "method-two" || s.kind === "transfer-attack") expect(index.get(s.id)).toBeGreaterThan(index.get("train-M1") ?? 99);
      if (s.kind === "evaluate") {
        expect(index.get(s.id)).toBeGreaterThan(index.get(`train-${s.model}`) ?? 99);
        if (s.protocol === "transfer") expect(index.get(s.id)).toBeGreaterThan(index.get("transfer-attack") ?? 99);
      }
    }
  });

  it("adds the baselines beside M1-M4 in every protocol, sweep and the worst case", async () => {
    const spec = await loadSpec({
      preset: "demo",
      overrides: {
        baselines: ["pgd-at", { method: "segpgd-at", epochs: 2, cleanFraction: 0.5 }],
        evaluation: { protocols: ["white-box", "worst-case"] },
        sweeps: [{ model: "all", epsilons: [0, 0.01] }],
        trust: { largeEpsilon: false, moreSteps: false },
      },
    });
    const stages = planExperiment(spec);
    const trains = stages.flatMap((s) => (s.kind === "train" ? [[s.model, s.trainOn, s.epochs, s.baseline?.method ?? null]] : []));
    expect(trains.slice(4)).toEqual([
      ["PGD-AT", ["train"], 12, "pgd-at"],
      ["SegPGD-AT", ["train"], 2, "segpgd-at"],
    ]);
    const models = ["M1", "M2", "M3", "M4", "PGD-AT", "SegPGD-AT"];
    expect(stages.filter((s) => s.kind === "evaluate" && s.protocol === "white-box").map((s) => (s as { model: string }).model)).toEqual(models);
    expect(stages.filter((s) => s.kind === "worst-case").map((s) => s.id)).toEqual(models.map((m) => `worst-case-${m}`));
    expect(stages.filter((s) => s.kind === "sweep").map((s) => s.id)).toEqual(models.map((m) => `sweep-1-${m}`));
    expect(stages.some((s) => s.kind === "trust-evaluation")).toBe(false);
    expect(stages.find((s) => s.id === "train-PGD-AT")?.label).toBe("train PGD-AT (PGD-AT ε = 0.01, 3 steps, random start)");
  });

  it("leaves out the protocols the spec does not ask for; M4 gets at least one epoch", async () => {
    const spec = await loadSpec({ preset: "demo", overrides: { training: { epochs: 1 }, evaluation: { protocols: ["white-box"] } } });
    const stages = planExperiment(spec);
    expect(stages.some((s) => s.id === "transfer-attack" || s.id.endsWith("-transfer"))).toBe(false);
    expect(stages.filter((s) => s.kind === "evaluate")).toHaveLength(8);
    expect(stages.find((s) => s.id === "train-M4")).toMatchObject({ epochs: 1 });
  });

  it("names what each stage needs, so that independent stages may run at once and every need comes earlier in the plan", async () => {
    const spec = await loadSpec({ preset: "demo", overrides: { baselines: ["pgd-at"], evaluation: { protocols: ["white-box", "transfer", "worst-case"] } } });
    const stages = planExperiment(spec);
    const needs = stageDependencies(stages);
    const position = new Map(stages.map((s, i) => [s.id, i]));
    for (const stage of stages) {
      for (const need of needs.get(stage.id) ?? []) expect(position.get(need)).toBeLessThan(position.get(stage.id) as number);
    }
    expect(needs.get("data")).toEqual([]);
    expect(needs.get("train-M1")).toEqual(["data"]);
    expect(needs.get("method-two")).toEqual(["data", "train-M1"]);
    // M2 waits for D1 only (it trains while method two runs); M4 for both datasets.
    expect(needs.get("train-M2")).toEqual(["method-one", "data"]);
    expect(needs.get("train-M4")).toEqual(["data", "method-one", "method-two"]);
    expect(needs.get("train-PGD-AT")).toEqual(["data"]);
    expect(needs.get("evaluate-M3-white-box")).toEqual(["data", "train-M3"]);
    expect(needs.get("evaluate-M2-transfer")).toEqual(["data", "train-M2", "transfer-attack"]);
    expect(needs.get("worst-case-PGD-AT")).toEqual(["data", "train-PGD-AT"]);
    expect(needs.get("sweep-1-M4")).toEqual(["data", "train-M4", "train-M1"]);
    expect(needs.get("figures")).toEqual(stages.slice(0, -1).map((s) => s.id));
  });
});
