// Attack options shared by `robustseg attack` and `robustseg evaluate --attack`.
import { z } from "zod";
import type { Command } from "commander";
import { ATTACK_METHODS, type AttackParams, type AttackTarget, LAYER_BUDGETS, parseAttackTarget } from "../ops/attacks.js";
import { choice, nonNegativeInteger, positiveInteger, positiveNumber } from "./option-schemas.js";
import { option } from "./parse-options.js";

export const ATTACK_METHOD_CHOICES = [...ATTACK_METHODS, "layered-pgd"] as const;

export const attackOptionsSchema = {
  epsilon: positiveNumber(),
  steps: positiveInteger(100_000),
  stepSize: positiveNumber().optional(),
  target: z.string().transform((v, ctx) => {
    try {
      return parseAttackTarget(v);
    } catch {
      ctx.addIssue({ code: "custom", message: `must be untargeted, a class name or a class index, got ${v}` });
      return z.NEVER;
    }
  }),
  budget: choice(LAYER_BUDGETS),
  randomStart: z.boolean().default(false),
  attackSeed: nonNegativeInteger(),
};

/** The same options, each optional (evaluate is clean without --attack); attackParamsFrom fills defaults. */
export const optionalAttackOptionsSchema = {
  epsilon: attackOptionsSchema.epsilon.optional(),
  steps: attackOptionsSchema.steps.optional(),
  stepSize: attackOptionsSchema.stepSize,
  target: attackOptionsSchema.target.optional(),
  budget: attackOptionsSchema.budget.optional(),
  randomStart: z.boolean().optional(),
  attackSeed: attackOptionsSchema.attackSeed.optional(),
};

export function attackParamsFrom(
  method: (typeof ATTACK_METHOD_CHOICES)[number],
  options: {
    epsilon?: number | undefined;
    steps?: number | undefined;
    stepSize?: number | undefined;
    target?: AttackTarget | undefined;
    budget?: "per-layer" | "total" | undefined;
    randomStart?: boolean | undefined;
    attackSeed?: number | undefined;
  },
): AttackParams {
  const o = {
    epsilon: options.epsilon ?? 0.01,
    steps: options.steps ?? 10,
    stepSize: options.stepSize,
    target: options.target ?? { class: "background" },
    budget: options.budget ?? "per-layer",
    randomStart: options.randomStart ?? false,
    attackSeed: options.attackSeed ?? 0,
  };
  if (method === "layered-pgd") {
    return { method, epsilon: o.epsilon, steps: o.steps, stepSize: o.stepSize, budget: o.budget, randomStart: o.randomStart, seed: o.attackSeed };
  }
  return { method, epsilon: o.epsilon, steps: o.steps, stepSize: o.stepSize, target: o.target, randomStart: o.randomStart, seed: o.attackSeed };
}


export function addAttackOptions(command: Command): Command {
  return command
    .addOption(option("--epsilon <eps>", "L∞ budget as a fraction of the pixel range (0.01 = 1%)", 0.01))
    .addOption(option("--steps <n>", "iterations (PGD family; per layer for layered-pgd; FGSM ignores it)", 10))
    .option("--step-size <alpha>", "step size (default 2.5·ε/steps)")
    .addOption(option("--target <target>", "background, a class name or index (full-area targeted), or untargeted", "background"))
    .addOption(option("--budget <budget>", "layered-pgd: per-layer or total", "per-layer"))
    .option("--random-start", "start from a random point in the ε-ball")
    .addOption(option("--attack-seed <n>", "seed of the random start", 0));
}
