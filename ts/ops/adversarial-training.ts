// Adversarial training as the worker runs it (model.proto AdversarialTraining): every training
// batch replaced on the fly by an untargeted attack against the model being trained.
// PGD-AT (Madry et al. 2018) uses PGD on the cross-entropy; SegPGD-AT (Gu et al. 2022) the SegPGD loss.
import { AttackMethod } from "../generated/robustseg/v1/attack.js";
import type { AdversarialTraining } from "../generated/robustseg/v1/model.js";

export interface AdversarialTrainingParams {
  method: "pgd" | "segpgd";
  epsilon: number;
  steps: number;
  /** 0 = 2.5 · ε / steps. */
  stepSize: number;
  randomStart: boolean;
  /** Share of each batch left clean, in [0, 1). */
  cleanFraction: number;
}

export function adversarialTrainingToProto(p: AdversarialTrainingParams): AdversarialTraining {
  return {
    method: p.method === "pgd" ? AttackMethod.ATTACK_METHOD_PGD : AttackMethod.ATTACK_METHOD_SEGPGD,
    epsilon: p.epsilon,
    steps: p.steps,
    stepSize: p.stepSize,
    randomStart: p.randomStart,
    cleanFraction: p.cleanFraction,
  };
}

/** "PGD-AT ε = 0.01, 3 steps, random start" (and the clean share when there is one). */
export function describeAdversarialTraining(p: AdversarialTrainingParams): string {
  const name = p.method === "pgd" ? "PGD-AT" : "SegPGD-AT";
  const clean = p.cleanFraction > 0 ? `, ${Math.round(100 * p.cleanFraction)}% of each batch clean` : "";
  return `${name} ε = ${p.epsilon}, ${p.steps} step${p.steps === 1 ? "" : "s"}${p.randomStart ? ", random start" : ""}${clean}`;
}
