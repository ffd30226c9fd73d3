// Attack parameters as the control plane names them (spec files, CLI) and their contract form.
import {
  AttackMethod,
  type AttackSpec,
  LayerBudget,
} from "../generated/robustseg/v1/attack.js";

export const ATTACK_METHODS = ["fgsm", "pgd", "segpgd", "cospgd"] as const;
export type AttackMethodName = (typeof ATTACK_METHODS)[number];
export const LAYER_BUDGETS = ["per-layer", "total"] as const;
export type LayerBudgetName = (typeof LAYER_BUDGETS)[number];

/** "untargeted", or the full-area target of one class (index or name). */
export type AttackTarget = "untargeted" | { class: number | string };

export interface GradientAttackParams {
  method: AttackMethodName;
  /** Fraction of the pixel range (0.01 = 1%). */
  epsilon: number;
  /** Iterative methods; ignored by FGSM. */
  steps: number;
  /** 0 or unset = the worker's default 2.5·ε/steps. */
  stepSize?: number | undefined;
  randomStart?: boolean | undefined;
  seed?: number | undefined;
  target: AttackTarget;
}

/** Method one: one targeted PGD per class (paper Formula 2). */
export interface LayeredPgdParams {
  method: "layered-pgd";
  epsilon: number;
  steps: number;
  stepSize?: number | undefined;
  /** Class indices or names; unset/empty = every class ascending. */
  classOrder?: (number | string)[] | undefined;
  budget: LayerBudgetName;
  randomStart?: boolean | undefined;
  seed?: number | undefined;
}

export type AttackParams = GradientAttackParams | LayeredPgdParams;

export class AttackParamsError extends Error {
  override readonly name = "AttackParamsError";
}

/** A class given by index or name, as an index into `classNames`. */
export function resolveClass(value: number | string, classNames: readonly string[], what = "class"): number {
  if (typeof value === "number" || /^\d+$/.test(value)) {
    const k = Number(value);
    if (!Number.isInteger(k) || k < 0 || k >= classNames.length) {
      throw new AttackParamsError(`${what}: class index ${value} outside 0..${classNames.length - 1}`);
    }
    return k;
  }
  const k = classNames.findIndex((n) => n.toLowerCase() === value.toLowerCase());
  if (k < 0) throw new AttackParamsError(`${what}: unknown class ${JSON.stringify(value)} (classes: ${classNames.join(", ")})`);
  return k;
}

const METHOD: Record<AttackMethodName, AttackMethod> = {
  fgsm: AttackMethod.ATTACK_METHOD_FGSM,
  pgd: AttackMethod.ATTACK_METHOD_PGD,
  segpgd: AttackMethod.ATTACK_METHOD_SEGPGD,
  cospgd: AttackMethod.ATTACK_METHOD_COSPGD,
};

/** The contract's AttackSpec; class names resolve targets and class orders given by name. */
export function attackSpec(params: AttackParams, classNames: readonly string[]): AttackSpec {
  if (params.method === "layered-pgd") {
    return {
      attack: {
        $case: "layeredPgd",
        value: {
          epsilon: params.epsilon,
          steps: params.steps,
          stepSize: params.stepSize ?? 0,
          classOrder: (params.classOrder ?? []).map((c) => resolveClass(c, classNames, "classOrder")),
          budget: params.budget === "total" ? LayerBudget.LAYER_BUDGET_TOTAL : LayerBudget.LAYER_BUDGET_PER_LAYER,
          randomStart: params.randomStart ?? false,
          seed: params.seed ?? 0,
        },
      },
    };
  }
  return {
    attack: {
      $case: "gradient",
      value: {
        method: METHOD[params.method],
        epsilon: params.epsilon,
        steps: params.method === "fgsm" ? 1 : params.steps,
        stepSize: params.stepSize ?? 0,
        randomStart: params.randomStart ?? false,
        seed: params.seed ?? 0,
        target:
          params.target === "untargeted"
            ? { target: { $case: "untargeted", value: {} } }
            : { target: { $case: "fullAreaClass", value: resolveClass(params.target.class, classNames, "target") } },
      },
    },
  };
}

/** "PGD ε=0.01, 10 steps, target background" and the like. */
export function describeAttack(params: AttackParams, classNames?: readonly string[]): string {
  if (params.method === "layered-pgd") {
    const order = params.classOrder?.length ? ` order ${params.classOrder.join(",")}` : "";
    return `layered PGD ε=${params.epsilon} per layer, ${params.steps} steps/layer, budget ${params.budget}${order}`;
  }
  const steps = params.method === "fgsm" ? "" : `, ${params.steps} steps`;
  let target = "untargeted";
  if (params.target !== "untargeted") {
    const c = params.target.class;
    const name = typeof c === "number" && classNames?.[c] !== undefined ? classNames[c] : String(c);
    target = `target ${name}`;
  }
  return `${params.method.toUpperCase()} ε=${params.epsilon}${steps}, ${target}`;
}

/** CLI form of a target: "untargeted", a class index or a class name. */
export function parseAttackTarget(text: string): AttackTarget {
  const t = text.trim();
  if (t === "" ) throw new AttackParamsError("target: must be untargeted, a class index or a class name");
  if (t.toLowerCase() === "untargeted") return "untargeted";
  return { class: /^\d+$/.test(t) ? Number(t) : t };
}
