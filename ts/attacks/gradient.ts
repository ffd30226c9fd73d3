// The gradient attacks' common part: FGSM, PGD, SegPGD and CosPGD share one contract message
// (GradientAttack, told apart by its method) and one parameter shape; each is one module
// (fgsm.ts, pgd.ts, segpgd.ts, cospgd.ts) made by `gradientAttack` with its name, method,
// description and whether it iterates.
import { z } from "zod";
import type { AttackMethod, AttackSpec } from "../generated/robustseg/v1/attack.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { bool, epsilon, nonNegInt, posInt, posNum } from "../extensions/spec-values.js";
import { ATTACK_OPTIONS, type AttackTarget, describeTarget, resolveClass } from "./common.js";

export interface GradientAttackParams<M extends string = string> {
  method: M;
  /** Fraction of the pixel range (0.01 = 1%). */
  epsilon: number;
  /** Iterative methods; FGSM ignores it. */
  steps?: number | undefined;
  /** 0 or unset = the worker's default 2.5·ε/steps. */
  stepSize?: number | undefined;
  randomStart?: boolean | undefined;
  seed?: number | undefined;
  target: AttackTarget;
}

/** A spec's target: "untargeted", a class name or a class index. */
export const targetSchema = () =>
  z.union([z.string(), z.number()], { error: "must be untargeted, a class name or a class index" }).transform((value, ctx): AttackTarget => {
    if (typeof value === "number") {
      if (!Number.isInteger(value) || value < 0) {
        ctx.addIssue({ code: "custom", message: "must be untargeted, a class name or a non-negative class index" });
        return z.NEVER;
      }
      return { class: value };
    }
    const t = value.trim();
    if (t === "") {
      ctx.addIssue({ code: "custom", message: "must be untargeted, a class name or a class index" });
      return z.NEVER;
    }
    if (t.toLowerCase() === "untargeted") return "untargeted";
    return { class: /^\d+$/.test(t) ? Number(t) : t };
  });

export interface GradientAttackDefinition<M extends string> {
  method: M;
  /** As printed: "PGD", "SegPGD". */
  label: string;
  protoMethod: AttackMethod;
  /** Several steps (PGD family); FGSM is one step of size ε and ignores steps and random starts. */
  iterative: boolean;
  description: string;
}

/** Where a gradient attack's spec block is used: with ε (the evaluation attack) or without (a sweep's, whose ε vary). */
export type GradientSpecUse = "evaluation" | "sweep";

export function gradientAttack<const M extends string>(def: GradientAttackDefinition<M>) {
  const { epsilon: eps, steps, stepSize, target, randomStart, attackSeed } = ATTACK_OPTIONS;
  const options = def.iterative ? cliOptions({ epsilon: eps, steps, stepSize, target, randomStart, attackSeed }) : cliOptions({ epsilon: eps, target, attackSeed });
  type Options = typeof options & Partial<typeof ATTACK_OPTIONS>;
  const module = {
    ...def,
    name: def.method,
    kind: "gradient" as const,
    cliOptions: options,

    fromCli(values: CliValues<Options>): GradientAttackParams<M> {
      return {
        method: def.method,
        epsilon: values.epsilon ?? 0.01,
        ...(def.iterative ? { steps: values.steps ?? 10, stepSize: values.stepSize, randomStart: values.randomStart ?? false } : {}),
        seed: values.attackSeed ?? 0,
        target: values.target ?? { class: "background" },
      };
    },

    /**
     * The spec block: `{method, epsilon, steps, stepSize, randomStart, seed, target}`. FGSM
     * accepts (and ignores) the iterative fields, so a preset's steps do not break it.
     */
    specSchema(use: GradientSpecUse) {
      const fields = {
        method: z.literal(def.method),
        steps: use === "sweep" ? posInt().default(10) : def.iterative ? posInt() : posInt().optional(),
        stepSize: posNum().optional(),
        randomStart: bool().default(false),
        /** Seed of the random starts (per image); 0 keeps the ids of runs made before it existed. */
        seed: nonNegInt().default(0),
        target: targetSchema().default({ class: "background" }),
      };
      return use === "evaluation" ? z.strictObject({ ...fields, epsilon: epsilon().default(0.01) }) : z.strictObject(fields);
    },

    toProto(params: GradientAttackParams, classNames: readonly string[]): AttackSpec {
      return {
        attack: {
          $case: "gradient",
          value: {
            method: def.protoMethod,
            epsilon: params.epsilon,
            steps: def.iterative ? (params.steps ?? 0) : 1,
            stepSize: def.iterative ? (params.stepSize ?? 0) : 0,
            randomStart: def.iterative ? (params.randomStart ?? false) : false,
            seed: params.seed ?? 0,
            target:
              params.target === "untargeted"
                ? { target: { $case: "untargeted", value: {} } }
                : { target: { $case: "fullAreaClass", value: resolveClass(params.target.class, classNames, "target") } },
          },
        },
      };
    },

    /** "PGD ε=0.01, 10 steps, target background". */
    describe(params: GradientAttackParams, classNames?: readonly string[]): string {
      const stepsText = def.iterative && params.steps !== undefined ? `, ${params.steps} steps` : "";
      return `${def.label} ε=${params.epsilon}${stepsText}, ${describeTarget(params.target, classNames)}`;
    },

    /** A contract field of GradientAttack ("step_size", "target.full_area_class") in the spec's words. */
    specField(protoField: string): string {
      if (protoField.startsWith("target")) return "target";
      return protoField.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    },
  };
  return defineExtension(module);
}
