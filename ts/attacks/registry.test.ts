// attackSpec (the library's way to the contract) refuses numbers the contract would carry wrongly:
// NaN and ±Infinity, fractional steps, negative or unsafe seeds; each names the field.
import { describe, expect, it } from "vitest";
import { type AttackParams, AttackParamsError, attackSpec } from "./registry.js";

const CLASSES = ["background", "nucleus"];
const pgd: AttackParams = { method: "pgd", epsilon: 0.01, steps: 10, target: "untargeted" };

describe("attackSpec", () => {
  it("converts finite numbers as given", () => {
    const spec = attackSpec({ ...pgd, stepSize: 0.002, seed: 7 }, CLASSES);
    expect(spec.attack).toMatchObject({ $case: "gradient", value: { epsilon: 0.01, steps: 10, stepSize: 0.002, seed: 7 } });
  });

  it.each([
    [{ epsilon: Number.NaN }, "epsilon: must be a finite number, got NaN"],
    [{ epsilon: Number.POSITIVE_INFINITY }, "epsilon: must be a finite number, got Infinity"],
    [{ epsilon: Number.NEGATIVE_INFINITY }, "epsilon: must be a finite number, got -Infinity"],
    [{ epsilon: "0.01" }, "epsilon: must be a finite number, got 0.01"],
    [{ stepSize: Number.NaN }, "stepSize: must be a finite number, got NaN"],
    [{ steps: 2.5 }, "steps: must be an integer between -2147483648 and 2147483647, got 2.5"],
    [{ steps: Number.NaN }, "steps: must be an integer between -2147483648 and 2147483647, got NaN"],
    [{ seed: -1 }, "seed: must be an integer between 0 and 9007199254740991, got -1"],
  ])("refuses %o by field", (change, message) => {
    const call = () => attackSpec({ ...pgd, ...change } as AttackParams, CLASSES);
    expect(call).toThrow(AttackParamsError);
    expect(call).toThrow(message);
  });

  it("checks the numbers of every attack kind", () => {
    expect(() => attackSpec({ method: "layered-pgd", epsilon: Number.NaN, steps: 5, budget: "per-layer" }, CLASSES)).toThrow("epsilon: must be a finite number, got NaN");
    const apgd: AttackParams = { method: "apgd", epsilon: 0.01, steps: 5, loss: "ce", target: "untargeted", iterate: "best-loss", progressiveRadius: false, randomStart: false, seed: 0 };
    expect(() => attackSpec({ ...apgd, epsilon: Number.POSITIVE_INFINITY }, CLASSES)).toThrow("epsilon: must be a finite number, got Infinity");
    expect(() => attackSpec({ method: "fgsm", epsilon: Number.NaN, target: { class: "nucleus" } }, CLASSES)).toThrow("epsilon: must be a finite number, got NaN");
  });
});
