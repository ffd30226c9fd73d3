// What the attack modules share: targets, classes given by name or index, and the command-line
// options several attacks take (one definition each, so --help reads the same everywhere).
import { z } from "zod";
import type { CliOptionSpec } from "../extensions/extension.js";
import { commaList, nonNegativeInteger, positiveInteger, positiveNumber } from "../extensions/option-values.js";

/** "untargeted", or the full-area target of one class (index or name). */
export type AttackTarget = "untargeted" | { class: number | string };

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

/** The command-line (and spec string) form of a target: "untargeted", a class index or a class name. */
export function parseAttackTarget(text: string): AttackTarget {
  const t = text.trim();
  if (t === "") throw new AttackParamsError("target: must be untargeted, a class index or a class name");
  if (t.toLowerCase() === "untargeted") return "untargeted";
  return { class: /^\d+$/.test(t) ? Number(t) : t };
}

/** "target background", "untargeted"; class indices shown by name when the names are known. */
export function describeTarget(target: AttackTarget, classNames?: readonly string[]): string {
  if (target === "untargeted") return "untargeted";
  const c = target.class;
  const name = typeof c === "number" && classNames?.[c] !== undefined ? classNames[c] : String(c);
  return `target ${name}`;
}

const targetValue = z.string().transform((v, ctx): AttackTarget => {
  try {
    return parseAttackTarget(v);
  } catch {
    ctx.addIssue({ code: "custom", message: `must be untargeted, a class name or a class index, got ${v}` });
    return z.NEVER;
  }
});

const classOrderValue = commaList("class names or indices", (s): number | string => (/^\d+$/.test(s) ? Number(s) : s));

export const BUDGETS = ["per-layer", "total"] as const;
export type LayerBudgetName = (typeof BUDGETS)[number];

/** The options attacks take on the command line; each attack module lists the ones it uses. */
export const ATTACK_OPTIONS = {
  epsilon: { flags: "--epsilon <eps>", description: "L∞ budget as a fraction of the pixel range (0.01 = 1%)", value: positiveNumber(), default: 0.01 },
  steps: { flags: "--steps <n>", description: "gradient steps (per layer for layered-pgd)", value: positiveInteger(), default: 10 },
  stepSize: { flags: "--step-size <alpha>", description: "step size (default 2.5·ε/steps)", value: positiveNumber() },
  target: {
    flags: "--target <target>",
    description: "background, a class name or index (full-area targeted), or untargeted",
    value: targetValue,
    default: "background",
  },
  budget: {
    flags: "--budget <budget>",
    description: `ε budget of the layers: ${BUDGETS.join(" or ")}`,
    value: z.enum(BUDGETS, { error: `must be one of ${BUDGETS.join(", ")}` }),
    default: "per-layer",
  },
  classOrder: { flags: "--class-order <classes>", description: "the layers' classes in order, e.g. 0,2,1 or names (default: every class, ascending)", value: classOrderValue },
  randomStart: { flags: "--random-start", description: "start from a random point in the ε-ball (seeded per image)", value: z.boolean() },
  attackSeed: { flags: "--attack-seed <n>", description: "seed of the random start", value: nonNegativeInteger(), default: 0 },
} satisfies Record<string, CliOptionSpec>;
