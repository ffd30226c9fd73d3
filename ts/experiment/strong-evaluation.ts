// The strong evaluation behind the `worst-case` protocol, in the spirit of SEA (Croce, Singh,
// Hein, "Towards Reliable Evaluation and Fast Training of Robust Semantic Segmentation Models",
// ECCV 2024): APGD (Croce & Hein 2020) run once per loss — cross-entropy, balanced cross-entropy,
// Jensen-Shannon divergence, masked cross-entropy, masked spherical — untargeted, plus the paper's
// targeted evaluation attack; per image the member that leaves the lowest foreground accuracy
// (the worker's EvaluateWorstCase). Defaults follow SEA: no random start, the lowest-accuracy
// iterate of each run, the progressive radius 2ε → 1.5ε → ε.
import { z } from "zod";
import { ApgdIterate, AttackLoss, type AttackSpec } from "../generated/robustseg/v1/attack.js";

export const STRONG_LOSSES = ["ce", "balanced-ce", "js", "masked-ce", "masked-spherical"] as const;
export type StrongLoss = (typeof STRONG_LOSSES)[number];
export const APGD_ITERATES = ["best-loss", "lowest-accuracy"] as const;
export type ApgdIterateName = (typeof APGD_ITERATES)[number];

const LOSS_PROTO: Record<StrongLoss, AttackLoss> = {
  ce: AttackLoss.ATTACK_LOSS_CROSS_ENTROPY,
  "balanced-ce": AttackLoss.ATTACK_LOSS_BALANCED_CROSS_ENTROPY,
  js: AttackLoss.ATTACK_LOSS_JENSEN_SHANNON,
  "masked-ce": AttackLoss.ATTACK_LOSS_MASKED_CROSS_ENTROPY,
  "masked-spherical": AttackLoss.ATTACK_LOSS_MASKED_SPHERICAL,
};

export const LOSS_LABELS: Record<StrongLoss, string> = {
  ce: "CE",
  "balanced-ce": "balanced CE",
  js: "JS divergence",
  "masked-ce": "masked CE",
  "masked-spherical": "masked spherical",
};

const posInt = () => z.int({ error: "must be a positive integer" }).min(1, "must be a positive integer");
const bool = () => z.boolean({ error: "must be true or false" });

/** The spec block `evaluation.strong` (all optional; used when the protocols name worst-case). */
export const strongEvaluationSchema = z.strictObject({
  /** L∞ radius; default the evaluation attack's ε. */
  epsilon: z.number({ error: "must be a positive number" }).positive("must be a positive number").max(1, "must be at most 1 (a fraction of the pixel range)").optional(),
  /** APGD iterations per loss. */
  steps: posInt().default(20),
  losses: z
    .array(z.enum(STRONG_LOSSES, { error: `must be one of ${STRONG_LOSSES.join(", ")}` }), { error: `must be a list of ${STRONG_LOSSES.join(", ")}` })
    .min(1, "needs at least one loss")
    .refine((v) => new Set(v).size === v.length, "must not repeat a loss")
    .default([...STRONG_LOSSES]),
  iterate: z.enum(APGD_ITERATES, { error: `must be one of ${APGD_ITERATES.join(", ")}` }).default("lowest-accuracy"),
  progressiveRadius: bool().default(true),
  randomStart: bool().default(false),
  /** Seed of the random starts (per image), when randomStart. */
  seed: z.int({ error: "must be a non-negative integer" }).min(0, "must be a non-negative integer").default(0),
  /** The paper's targeted evaluation attack as one more member. */
  includeEvaluationAttack: bool().default(true),
});
export type StrongEvaluationSpec = z.output<typeof strongEvaluationSchema>;

export interface ApgdParams {
  method: "apgd";
  epsilon: number;
  steps: number;
  loss: StrongLoss;
  iterate: ApgdIterateName;
  progressiveRadius: boolean;
  randomStart: boolean;
  seed: number;
}

/** One member of the ensemble: its label for tables and its contract form. */
export interface EnsembleMember {
  label: string;
  params: ApgdParams | null;
  spec: AttackSpec;
}

export function apgdToProto(p: ApgdParams): AttackSpec {
  return {
    attack: {
      $case: "apgd",
      value: {
        epsilon: p.epsilon,
        steps: p.steps,
        loss: LOSS_PROTO[p.loss],
        target: { target: { $case: "untargeted", value: {} } },
        iterate: p.iterate === "best-loss" ? ApgdIterate.APGD_ITERATE_BEST_LOSS : ApgdIterate.APGD_ITERATE_LOWEST_ACCURACY,
        progressiveRadius: p.progressiveRadius,
        randomStart: p.randomStart,
        seed: p.seed,
      },
    },
  };
}

/** "APGD masked CE ε=0.01, 20 steps (lowest-accuracy iterate, radius 2ε→ε)". */
export function describeApgd(p: ApgdParams): string {
  const extras = [p.iterate === "lowest-accuracy" ? "lowest-accuracy iterate" : "best-loss iterate", p.progressiveRadius ? "radius 2ε→ε" : "", p.randomStart ? "random start" : ""].filter(Boolean);
  return `APGD ${LOSS_LABELS[p.loss]} ε=${p.epsilon}, ${p.steps} steps (${extras.join(", ")})`;
}

/**
 * The ensemble: one APGD per loss (in the spec's order), then the evaluation attack when the spec
 * includes it. `evaluation` is the evaluation attack's contract form, label and ε.
 */
export function ensembleMembers(strong: StrongEvaluationSpec, evaluation: { spec: AttackSpec; label: string; epsilon: number }): EnsembleMember[] {
  const epsilon = strong.epsilon ?? evaluation.epsilon;
  const members: EnsembleMember[] = strong.losses.map((loss) => {
    const params: ApgdParams = {
      method: "apgd",
      epsilon,
      steps: strong.steps,
      loss,
      iterate: strong.iterate,
      progressiveRadius: strong.progressiveRadius,
      randomStart: strong.randomStart,
      seed: strong.seed,
    };
    return { label: `APGD ${LOSS_LABELS[loss]}`, params, spec: apgdToProto(params) };
  });
  if (strong.includeEvaluationAttack) members.push({ label: evaluation.label, params: null, spec: evaluation.spec });
  return members;
}
