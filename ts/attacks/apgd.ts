// APGD, Auto-PGD (Croce & Hein, ICML 2020): PGD with step size 2ε halved at the published
// checkpoints, momentum 0.75 and the best-loss iterate kept, with the losses of SEA (Croce, Singh,
// Hein, ECCV 2024): cross-entropy, balanced CE, Jensen-Shannon divergence, masked CE, masked
// spherical. SEA's options: the iterate of lowest foreground accuracy instead of the best-loss one,
// and the progressive radius 2ε → 1.5ε → ε. The worker's attacks/apgd.py has the details.
import { z } from "zod";
import { ApgdIterate, AttackLoss, type AttackSpec } from "../generated/robustseg/v1/attack.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { choice } from "../extensions/option-values.js";
import { bool, epsilon, nonNegInt, posInt } from "../extensions/spec-values.js";
import { ATTACK_OPTIONS, type AttackTarget, describeTarget, resolveClass } from "./common.js";
import { targetSchema } from "./gradient.js";

export const APGD_LOSSES = ["ce", "balanced-ce", "js", "masked-ce", "masked-spherical"] as const;
export type ApgdLoss = (typeof APGD_LOSSES)[number];
export const APGD_ITERATES = ["best-loss", "lowest-accuracy"] as const;
export type ApgdIterateName = (typeof APGD_ITERATES)[number];

export const APGD_LOSS_LABELS: Record<ApgdLoss, string> = {
  ce: "CE",
  "balanced-ce": "balanced CE",
  js: "JS divergence",
  "masked-ce": "masked CE",
  "masked-spherical": "masked spherical",
};

const LOSS_PROTO: Record<ApgdLoss, AttackLoss> = {
  ce: AttackLoss.ATTACK_LOSS_CROSS_ENTROPY,
  "balanced-ce": AttackLoss.ATTACK_LOSS_BALANCED_CROSS_ENTROPY,
  js: AttackLoss.ATTACK_LOSS_JENSEN_SHANNON,
  "masked-ce": AttackLoss.ATTACK_LOSS_MASKED_CROSS_ENTROPY,
  "masked-spherical": AttackLoss.ATTACK_LOSS_MASKED_SPHERICAL,
};

export interface ApgdParams {
  method: "apgd";
  epsilon: number;
  steps: number;
  loss: ApgdLoss;
  /** Untargeted (SEA's losses); a full-area target needs loss ce. */
  target: AttackTarget;
  iterate: ApgdIterateName;
  progressiveRadius: boolean;
  randomStart: boolean;
  seed: number;
}

const { epsilon: eps, steps, target, randomStart, attackSeed } = ATTACK_OPTIONS;
// The gradient attacks' --target defaults to background; APGD's must not (SEA's losses attack the
// truth, and a background target would be refused for every loss but ce): untargeted unless given.
const { default: _backgroundDefault, ...untargetedByDefault } = target;
const options = cliOptions({
  epsilon: eps,
  steps,
  target: untargetedByDefault,
  randomStart,
  attackSeed,
  loss: { flags: "--loss <loss>", description: `APGD's loss (${APGD_LOSSES.join(", ")})`, value: choice(APGD_LOSSES), default: "ce" },
  iterate: {
    flags: "--iterate <which>",
    description: "APGD: return the best-loss iterate (APGD's) or the lowest-accuracy one (SEA's)",
    value: choice(APGD_ITERATES),
    default: "best-loss",
  },
  progressiveRadius: { flags: "--progressive-radius", description: "APGD: 30% of the steps at 2ε, 30% at 1.5ε, the rest at ε (SEA)", value: z.boolean() },
});

export const apgd = defineExtension({
  name: "apgd",
  method: "apgd",
  label: "APGD",
  kind: "apgd" as const,
  description: "APGD (Croce & Hein 2020): step size 2ε halved at checkpoints, momentum, best iterate kept; SEA's losses",
  cliOptions: options,

  fromCli(values: CliValues<typeof options>): ApgdParams {
    return {
      method: "apgd",
      epsilon: values.epsilon ?? 0.01,
      steps: values.steps ?? 10,
      loss: values.loss ?? "ce",
      // SEA's losses attack the truth: untargeted unless a target is given.
      target: values.target ?? "untargeted",
      iterate: values.iterate ?? "best-loss",
      progressiveRadius: values.progressiveRadius ?? false,
      randomStart: values.randomStart ?? false,
      seed: values.attackSeed ?? 0,
    };
  },

  /** A spec block `{method: apgd, epsilon, steps, loss, target, iterate, progressiveRadius, randomStart, seed}`. */
  specSchema() {
    return z.strictObject({
      method: z.literal("apgd"),
      epsilon: epsilon().default(0.01),
      steps: posInt().default(20),
      loss: z.enum(APGD_LOSSES, { error: `must be one of ${APGD_LOSSES.join(", ")}` }).default("ce"),
      target: targetSchema().default("untargeted"),
      iterate: z.enum(APGD_ITERATES, { error: `must be one of ${APGD_ITERATES.join(", ")}` }).default("best-loss"),
      progressiveRadius: bool().default(false),
      randomStart: bool().default(false),
      seed: nonNegInt().default(0),
    });
  },

  toProto(p: ApgdParams, classNames: readonly string[]): AttackSpec {
    return {
      attack: {
        $case: "apgd",
        value: {
          epsilon: p.epsilon,
          steps: p.steps,
          loss: LOSS_PROTO[p.loss],
          target:
            p.target === "untargeted"
              ? { target: { $case: "untargeted", value: {} } }
              : { target: { $case: "fullAreaClass", value: resolveClass(p.target.class, classNames, "target") } },
          iterate: p.iterate === "lowest-accuracy" ? ApgdIterate.APGD_ITERATE_LOWEST_ACCURACY : ApgdIterate.APGD_ITERATE_BEST_LOSS,
          progressiveRadius: p.progressiveRadius,
          randomStart: p.randomStart,
          seed: p.seed,
        },
      },
    };
  },

  /** "APGD masked CE ε=0.01, 20 steps, untargeted (lowest-accuracy iterate, radius 2ε→ε)". */
  describe(p: ApgdParams, classNames?: readonly string[]): string {
    const extras = [p.iterate === "lowest-accuracy" ? "lowest-accuracy iterate" : "", p.progressiveRadius ? "radius 2ε→ε" : "", p.randomStart ? "random start" : ""].filter(Boolean);
    return `APGD ${APGD_LOSS_LABELS[p.loss]} ε=${p.epsilon}, ${p.steps} steps, ${describeTarget(p.target, classNames)}${extras.length ? ` (${extras.join(", ")})` : ""}`;
  },

  /** A contract field of ApgdAttack ("progressive_radius", "target.full_area_class") in the spec's words. */
  specField(protoField: string): string {
    if (protoField.startsWith("target")) return "target";
    return protoField.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  },
});
