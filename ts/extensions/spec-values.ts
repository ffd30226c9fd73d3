// zod pieces for the values of spec files (YAML/JSON), shared by the spec and the extension
// modules. They check types (an integer, a positive number, a path); ranges that depend on what a
// value means are the worker's to check.
import { z } from "zod";

export const posInt = () => z.int({ error: "must be a positive integer" }).min(1, "must be a positive integer");
export const nonNegInt = () => z.int({ error: "must be a non-negative integer" }).min(0, "must be a non-negative integer");
export const posNum = () => z.number({ error: "must be a positive number" }).positive("must be a positive number");
export const nonNegNum = () => z.number({ error: "must be a non-negative number" }).min(0, "must be a non-negative number");
/** ε: a fraction of the pixel range. */
export const epsilon = () => posNum().max(1, "must be at most 1 (a fraction of the pixel range)");
export const fraction = () => z.number({ error: "must be a number in [0, 1]" }).min(0, "must be in [0, 1]").max(1, "must be in [0, 1]");
export const nonEmptyString = (what?: string) =>
  z.string({ error: what ? `must be a string (${what})` : "must be a string" }).min(1, what ? `must not be empty (${what})` : "must not be empty");
export const pathString = (what: string) => z.string({ error: `must be a path (${what})` }).min(1, `must not be empty (${what})`);
export const bool = () => z.boolean({ error: "must be true or false" });

/**
 * A union of strict objects told apart by `key` (e.g. `backend`, `source`, `method`), built from a
 * registry's schemas. An unknown or missing key reads "KEY: must be one of a, b, c".
 */
export function unionBy<const K extends string, const S extends readonly [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]]>(
  key: K,
  names: readonly string[],
  schemas: S,
) {
  return z.discriminatedUnion(key, schemas as unknown as [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]], {
    error: (issue) => (issue.code === "invalid_union" ? `must be one of ${names.join(", ")}` : undefined),
  }) as unknown as z.ZodDiscriminatedUnion<[...S]>;
}

/** `schema` of an object whose `key` defaults to `value` when the object leaves it out. */
export function withDefaultKey<S extends z.ZodType>(key: string, value: string, schema: S) {
  return z.preprocess((v) => (typeof v === "object" && v !== null && !Array.isArray(v) && !(key in v) ? { ...v, [key]: value } : v), schema);
}

/** The dotted field path of a zod issue: data.trainFolds[0]. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i > 0 ? "." : ""}${String(p)}`)).join("");
}
