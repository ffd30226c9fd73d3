// Every attack the control plane knows, one module each; the spec's attack blocks, the CLI's
// --method/--attack choices and options, and the conversion to the contract dispatch through here.
import type { AttackSpec } from "../generated/robustseg/v1/attack.js";
import { unionBy, withDefaultKey } from "../extensions/spec-values.js";
import { apgd, type ApgdParams } from "./apgd.js";
import { type AttackTarget, AttackParamsError } from "./common.js";
import { cospgd } from "./cospgd.js";
import { fgsm } from "./fgsm.js";
import type { GradientAttackParams as GradientParamsOf, GradientSpecUse } from "./gradient.js";
import { layeredPgd, type LayeredPgdParams } from "./layered-pgd.js";
import { pgd } from "./pgd.js";
import { segpgd } from "./segpgd.js";

export { type AttackTarget, AttackParamsError, parseAttackTarget, resolveClass } from "./common.js";
export type { LayeredPgdParams } from "./layered-pgd.js";
export type { ApgdParams } from "./apgd.js";

/** Attacks on one image with one target (usable for evaluation and sweeps). */
export const GRADIENT_ATTACKS = [fgsm, pgd, segpgd, cospgd] as const;
/** Every attack, in the order --help lists them. */
export const ATTACKS = [...GRADIENT_ATTACKS, apgd, layeredPgd] as const;

export type GradientAttackModule = (typeof GRADIENT_ATTACKS)[number];
export type AttackModule = (typeof ATTACKS)[number];
export type GradientMethodName = GradientAttackModule["method"];
export type AttackMethodName = AttackModule["method"];

export const GRADIENT_METHODS = GRADIENT_ATTACKS.map((a) => a.method) as [GradientMethodName, ...GradientMethodName[]];
export const ATTACK_METHODS = ATTACKS.map((a) => a.method) as [AttackMethodName, ...AttackMethodName[]];

export type GradientAttackParams = GradientParamsOf<GradientMethodName>;
export type AttackParams = GradientAttackParams | ApgdParams | LayeredPgdParams;

export function attackModule(method: string): AttackModule {
  const found = ATTACKS.find((a) => a.method === method);
  if (!found) throw new AttackParamsError(`method: must be one of ${ATTACK_METHODS.join(", ")}, got ${method}`);
  return found;
}

export function gradientAttackModule(method: string): GradientAttackModule {
  const found = GRADIENT_ATTACKS.find((a) => a.method === method);
  if (!found) throw new AttackParamsError(`method: must be one of ${GRADIENT_METHODS.join(", ")}, got ${method}`);
  return found;
}

/**
 * The contract's AttackSpec; class names resolve targets and class orders given by name. Numbers
 * are checked for what the contract can carry (an AttackParamsError naming the field): NaN or
 * ±Infinity would reach the worker as such, a fractional `steps` would be cut to an integer and
 * a negative `seed` wrap around. Ranges (ε in [1e-6, 1], steps > 0) are the worker's to check.
 */
export function attackSpec(params: AttackParams, classNames: readonly string[]): AttackSpec {
  checkAttackNumbers(params);
  if (params.method === "layered-pgd") return layeredPgd.toProto(params, classNames);
  if (params.method === "apgd") return apgd.toProto(params, classNames);
  return gradientAttackModule(params.method).toProto(params, classNames);
}

function checkAttackNumbers(params: AttackParams): void {
  const fields = params as unknown as Record<string, unknown>;
  const finite = (key: string, optional: boolean) => {
    const value = fields[key];
    if (optional && value === undefined) return;
    if (typeof value !== "number" || !Number.isFinite(value)) throw new AttackParamsError(`${key}: must be a finite number, got ${String(value)}`);
  };
  const integer = (key: string, min: number, max: number) => {
    const value = fields[key];
    if (value === undefined) return;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new AttackParamsError(`${key}: must be an integer between ${min} and ${max}, got ${String(value)}`);
    }
  };
  finite("epsilon", false);
  finite("stepSize", true);
  integer("steps", -(2 ** 31), 2 ** 31 - 1);
  integer("seed", 0, Number.MAX_SAFE_INTEGER);
}

/** "PGD ε=0.01, 10 steps, target background" and the like. */
export function describeAttack(params: AttackParams, classNames?: readonly string[]): string {
  if (params.method === "layered-pgd") return layeredPgd.describe(params);
  if (params.method === "apgd") return apgd.describe(params, classNames);
  return gradientAttackModule(params.method).describe(params, classNames);
}

/**
 * The spec block of a gradient attack (`evaluation.attack`, a sweep's `attack`): a union over the
 * gradient attacks by `method` (default pgd).
 */
export function gradientAttackSchema(use: GradientSpecUse) {
  const schemas = GRADIENT_ATTACKS.map((a) => a.specSchema(use)) as unknown as [
    ReturnType<GradientAttackModule["specSchema"]>,
    ...ReturnType<GradientAttackModule["specSchema"]>[],
  ];
  return withDefaultKey("method", "pgd", unionBy("method", GRADIENT_METHODS, schemas));
}

/** A spec's gradient attack block (after parsing) as parameters; `epsilon` for a sweep's. */
export function gradientParams(
  block: { method: GradientMethodName; epsilon?: number; steps?: number | undefined; stepSize?: number | undefined; randomStart: boolean; seed: number; target: AttackTarget },
  epsilon?: number,
): GradientAttackParams {
  return {
    method: block.method,
    epsilon: epsilon ?? block.epsilon ?? 0,
    steps: block.steps,
    stepSize: block.stepSize,
    randomStart: block.randomStart,
    seed: block.seed,
    target: block.target,
  };
}
