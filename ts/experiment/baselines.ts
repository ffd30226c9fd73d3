// The field's standard defence as extra models beside the paper's M1-M4: adversarial training,
// trained from scratch on the clean training set for E epochs (the spec's training, its seed and
// augmentation), every batch attacked on the fly against the model being trained:
//   pgd-at     PGD-AT (Madry et al., ICLR 2018): untargeted PGD on the cross-entropy at ε, K steps,
//              random start;
//   segpgd-at  SegPGD-AT (Gu et al., ECCV 2022): the same with the SegPGD loss.
// `cleanFraction` keeps that share of each batch clean (0.5: half clean, half adversarial).
import { z } from "zod";
import { bool, epsilon, posInt, posNum } from "../extensions/spec-values.js";
import { type AdversarialTrainingParams, describeAdversarialTraining } from "../ops/adversarial-training.js";

export const BASELINE_METHODS = ["pgd-at", "segpgd-at"] as const;
export type BaselineMethod = (typeof BASELINE_METHODS)[number];
/** The model names the baselines take in tables, protocols, sweeps and figures. */
export const BASELINE_MODEL_NAMES = { "pgd-at": "PGD-AT", "segpgd-at": "SegPGD-AT" } as const satisfies Record<BaselineMethod, string>;
export type BaselineModelName = (typeof BASELINE_MODEL_NAMES)[BaselineMethod];
export const ALL_BASELINE_MODEL_NAMES = BASELINE_METHODS.map((m) => BASELINE_MODEL_NAMES[m]);

const baselineSchema = z.strictObject({
  method: z.enum(BASELINE_METHODS, { error: `must be one of ${BASELINE_METHODS.join(", ")}` }),
  /** The training attack's L∞ radius. */
  epsilon: epsilon().default(0.01),
  steps: posInt().default(3),
  /** Default 2.5·ε/steps. */
  stepSize: posNum().optional(),
  randomStart: bool().default(true),
  cleanFraction: z.number({ error: "must be a number in [0, 1)" }).min(0, "must be in [0, 1)").lt(1, "must be in [0, 1)").default(0),
  /** Default: the spec's training.epochs (E, as M1). */
  epochs: posInt().optional(),
});
export type BaselineSpec = z.output<typeof baselineSchema>;

/** `baselines:` a list of blocks, or of method names for the defaults (`[pgd-at, segpgd-at]`). */
export const baselinesSchema = z
  .array(z.preprocess((v) => (typeof v === "string" ? { method: v } : v), baselineSchema), { error: `must be a list of baselines (${BASELINE_METHODS.join(", ")})` })
  .refine((list) => new Set(list.map((b) => b.method)).size === list.length, "must not name a baseline twice")
  .default([]);

export function baselineModelName(b: Pick<BaselineSpec, "method">): BaselineModelName {
  return BASELINE_MODEL_NAMES[b.method];
}

export function baselineTraining(b: BaselineSpec): AdversarialTrainingParams {
  return {
    method: b.method === "pgd-at" ? "pgd" : "segpgd",
    epsilon: b.epsilon,
    steps: b.steps,
    stepSize: b.stepSize ?? 0,
    randomStart: b.randomStart,
    cleanFraction: b.cleanFraction,
  };
}

/** "PGD-AT ε = 0.01, 3 steps, random start" — how the model was trained, for tables. */
export function describeBaseline(b: BaselineSpec): string {
  return describeAdversarialTraining(baselineTraining(b));
}
