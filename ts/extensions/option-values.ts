// zod schemas for command-line option values (which arrive as strings, or as the numbers given
// as commander defaults), with messages that say what was expected and what came. Shared by the
// commands and the extension modules' option declarations.
import { z } from "zod";

type Raw = string | number;
const raw = z.union([z.string(), z.number()]);

export function show(value: Raw): string {
  return typeof value === "string" ? (value === "" ? '""' : value) : String(value);
}

/** An integer within [min, max]; the message reads "must be a positive integer, got -1". */
export function integer(options: { min?: number; max?: number } = {}) {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const expected = min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : `an integer >= ${min}`;
  return raw.transform((value, ctx) => {
    const text = String(value).trim();
    const n = Number(text);
    if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
      ctx.addIssue({ code: "custom", message: `must be ${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    if (n > max) {
      ctx.addIssue({ code: "custom", message: `must be at most ${max}, got ${show(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

export const positiveInteger = (max?: number) => integer(max === undefined ? { min: 1 } : { min: 1, max });
export const nonNegativeInteger = (max?: number) => integer(max === undefined ? { min: 0 } : { min: 0, max });

/** A finite number > 0. */
export function positiveNumber() {
  return raw.transform((value, ctx) => {
    const text = String(value).trim();
    const n = Number(text);
    if (text === "" || !Number.isFinite(n) || n <= 0) {
      ctx.addIssue({ code: "custom", message: `must be a positive number, got ${show(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** One of a fixed set of words. */
export function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.string().transform((value, ctx) => {
    const found = values.find((v) => v === value.trim());
    if (found === undefined) {
      ctx.addIssue({ code: "custom", message: `must be one of ${values.join(", ")}, got ${show(value)}` });
      return z.NEVER;
    }
    return found as T[number];
  });
}
