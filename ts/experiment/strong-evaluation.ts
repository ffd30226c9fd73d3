// The strong evaluation behind the `worst-case` protocol, in the spirit of SEA (Croce, Singh,
// Hein, "Towards Reliable Evaluation and Fast Training of Robust Semantic Segmentation Models",
// ECCV 2024): APGD (Croce & Hein 2020) run once per loss — cross-entropy, balanced cross-entropy,
// Jensen-Shannon divergence, masked cross-entropy, masked spherical — untargeted, plus the paper's
// targeted evaluation attack; per image the member that leaves the lowest foreground accuracy
// (the worker's EvaluateWorstCase). Defaults follow SEA: no random start, each run's
// lowest-accuracy iterate, the progressive radius 2ε → 1.5ε → ε.
import { z } from "zod";
import { APGD_ITERATES, APGD_LOSS_LABELS, APGD_LOSSES, type ApgdParams } from "../attacks/apgd.js";
import type { AttackParams } from "../attacks/registry.js";
import { bool, epsilon, nonNegInt, posInt } from "../extensions/spec-values.js";

/** The spec block `evaluation.strong` (all optional; used when the protocols name worst-case). */
export const strongEvaluationSchema = z.strictObject({
  /** L∞ radius; default the evaluation attack's ε. */
  epsilon: epsilon().optional(),
  /** APGD iterations per loss. */
  steps: posInt().default(20),
  losses: z
    .array(z.enum(APGD_LOSSES, { error: `must be one of ${APGD_LOSSES.join(", ")}` }), { error: `must be a list of ${APGD_LOSSES.join(", ")}` })
    .min(1, "needs at least one loss")
    .refine((v) => new Set(v).size === v.length, "must not repeat a loss")
    .default([...APGD_LOSSES]),
  iterate: z.enum(APGD_ITERATES, { error: `must be one of ${APGD_ITERATES.join(", ")}` }).default("lowest-accuracy"),
  progressiveRadius: bool().default(true),
  randomStart: bool().default(false),
  /** Seed of the random starts (per image), when randomStart. */
  seed: nonNegInt().default(0),
  /** The paper's targeted evaluation attack as one more member. */
  includeEvaluationAttack: bool().default(true),
});
export type StrongEvaluationSpec = z.output<typeof strongEvaluationSchema>;

/** One member of the ensemble and its short label for tables ("APGD masked CE", "PGD (evaluation attack)"). */
export interface EnsembleMember {
  label: string;
  params: AttackParams;
  /** The spec field it comes from, for error messages. */
  field: string;
}

/** The ensemble: one APGD per loss (in the spec's order), then the evaluation attack when included. */
export function ensembleMembers(strong: StrongEvaluationSpec, evaluation: AttackParams): EnsembleMember[] {
  const eps = strong.epsilon ?? evaluation.epsilon;
  const members: EnsembleMember[] = strong.losses.map((loss, i) => {
    const params: ApgdParams = {
      method: "apgd",
      epsilon: eps,
      steps: strong.steps,
      loss,
      target: "untargeted",
      iterate: strong.iterate,
      progressiveRadius: strong.progressiveRadius,
      randomStart: strong.randomStart,
      seed: strong.seed,
    };
    return { label: `APGD ${APGD_LOSS_LABELS[loss]}`, params, field: `evaluation.strong.losses[${i}]` };
  });
  if (strong.includeEvaluationAttack) members.push({ label: `${evaluation.method.toUpperCase()} (evaluation attack)`, params: evaluation, field: "evaluation.attack" });
  return members;
}
