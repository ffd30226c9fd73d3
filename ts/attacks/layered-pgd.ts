// Layered PGD, the paper's method one (Formula 2): one targeted PGD per class towards that
// class's full-area target, each layer starting from the previous layer's output; the ε budget is
// per layer (the paper's reading: up to C·ε in total) or one ball around the clean image.
import { z } from "zod";
import { type AttackSpec, LayerBudget } from "../generated/robustseg/v1/attack.js";
import { type CliValues, cliOptions, defineExtension } from "../extensions/extension.js";
import { bool, epsilon, nonNegInt, posInt, posNum } from "../extensions/spec-values.js";
import { ATTACK_OPTIONS, BUDGETS, type LayerBudgetName, resolveClass } from "./common.js";

export interface LayeredPgdParams {
  method: "layered-pgd";
  epsilon: number;
  /** Per layer. */
  steps: number;
  stepSize?: number | undefined;
  /** Class indices or names; unset/empty = every class ascending. */
  classOrder?: (number | string)[] | undefined;
  budget: LayerBudgetName;
  randomStart?: boolean | undefined;
  seed?: number | undefined;
}

const { epsilon: eps, steps, stepSize, budget, classOrder, randomStart, attackSeed } = ATTACK_OPTIONS;
const options = cliOptions({ epsilon: eps, steps, stepSize, budget, classOrder, randomStart, attackSeed });

export const layeredPgd = defineExtension({
  name: "layered-pgd",
  method: "layered-pgd",
  label: "layered PGD",
  kind: "layered" as const,
  description: "the paper's method one: one targeted PGD per class, each layer starting from the last",
  cliOptions: options,

  fromCli(values: CliValues<typeof options>): LayeredPgdParams {
    return {
      method: "layered-pgd",
      epsilon: values.epsilon ?? 0.01,
      steps: values.steps ?? 10,
      stepSize: values.stepSize,
      classOrder: values.classOrder,
      budget: values.budget ?? "per-layer",
      randomStart: values.randomStart ?? false,
      seed: values.attackSeed ?? 0,
    };
  },

  /** The spec's `methodOne` block. */
  specSchema() {
    return z.strictObject({
      epsilon: epsilon().default(0.01),
      steps: posInt(),
      stepSize: posNum().optional(),
      classOrder: z.array(z.union([nonNegInt(), z.string().min(1, "must not be empty")], { error: "must be a class index or name" })).optional(),
      budget: z.enum(BUDGETS, { error: `must be one of ${BUDGETS.join(", ")}` }).default("per-layer"),
      randomStart: bool().default(false),
      seed: nonNegInt().default(0),
    });
  },

  toProto(params: LayeredPgdParams, classNames: readonly string[]): AttackSpec {
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
  },

  describe(params: LayeredPgdParams): string {
    const order = params.classOrder?.length ? ` order ${params.classOrder.join(",")}` : "";
    return `layered PGD ε=${params.epsilon} per layer, ${params.steps} steps/layer, budget ${params.budget}${order}`;
  },

  /** A contract field of LayeredPgdAttack ("class_order[2]") in the spec's words. */
  specField(protoField: string): string {
    return protoField.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  },
});
