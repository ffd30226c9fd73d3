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

/**
 * Decimal notation, the one way a number is written on the command line: digits with an optional
 * sign, point and exponent ("0.01", "-2", ".5", "1e-3"). JavaScript's Number() would also read
 * "0x10" as 16, "0b11" as 3 and "Infinity", so a typo or a pasted hex value would pass as a
 * different number.
 */
export const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A finite number in decimal notation, > 0 when `positive`, >= 0 when `nonNegative`. */
export function finiteNumber(bound: "any" | "positive" | "nonNegative" = "any") {
  const expected = { any: "a number", positive: "a positive number", nonNegative: "a non-negative number" }[bound];
  return raw.transform((value, ctx) => {
    const text = String(value).trim();
    const n = Number(text);
    if (text !== "" && !DECIMAL_NUMBER.test(text) && Number.isFinite(n)) {
      ctx.addIssue({ code: "custom", message: `must be ${expected} in decimal notation (e.g. 0.01, 16, 1e-3), got ${show(value)}` });
      return z.NEVER;
    }
    if (!DECIMAL_NUMBER.test(text) || !Number.isFinite(n) || (bound === "positive" && n <= 0) || (bound === "nonNegative" && n < 0)) {
      ctx.addIssue({ code: "custom", message: `must be ${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** A finite number > 0. */
export const positiveNumber = () => finiteNumber("positive");

/** Comma-separated items ("16,32,64"), each turned into a value by `item` (undefined = not one). */
export function commaList<T>(what: string, item: (text: string) => T | undefined) {
  return z.string().transform((value, ctx): T[] => {
    const items = value.split(",").map((s) => s.trim());
    const out = items.map(item);
    if (items.some((s) => s === "") || out.some((v) => v === undefined)) {
      ctx.addIssue({ code: "custom", message: `must be ${what} separated by commas, got ${value}` });
      return z.NEVER;
    }
    return out as T[];
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
